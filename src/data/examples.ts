// Readers of labelled data: TSV/CSV with a header (GLUE style), one file of lines per class
// (rt-polarity), JSONL ({"sentence","label"}, {"text","label"}, {"prompt","completion"},
// {"premise","choices","label"}). Errors name the source and, where there is one, the line.

export type Encoding = 'utf-8' | 'latin1';

export interface ClassExample {
  text: string;
  label: string; // the class as written in the data ("1", "spam", ...)
}

export interface ChoiceExample {
  premise: string;
  choices: string[];
  label: number; // index of the right choice
}

/** Decodes bytes; invalid UTF-8 is reported with its line number (latin-1 never fails). */
export function decodeText(bytes: Uint8Array, source: string, encoding: Encoding = 'utf-8'): string {
  // UTF-16 (a byte-order mark, or NUL bytes between the characters) is valid latin-1 and even UTF-8
  // byte for byte, and would be read as garbage with NULs: refused, whatever the encoding asked for
  const bom = bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff));
  const nul = bom ? -1 : bytes.subarray(0, 1 << 16).indexOf(0);
  if (bom || nul >= 0) {
    const why = bom ? `its byte-order mark ${bytes[0].toString(16)} ${bytes[1].toString(16)}` : `a NUL byte at offset ${nul}`;
    throw new Error(`${source}: a UTF-16 file or binary data (${why}), not ${encoding} text: save it as UTF-8`);
  }
  if (encoding === 'latin1') return new TextDecoder('latin1').decode(bytes);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // find the first bad byte to name its line
    let line = 1;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0x0a) line++;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, i + 1), { stream: true });
      } catch {
        throw new Error(`${source}:${line}: not valid UTF-8 (byte 0x${bytes[i].toString(16)} at offset ${i}); for latin-1 files pass --encoding latin1`);
      }
    }
    throw new Error(`${source}: not valid UTF-8 (the file ends inside a character)`);
  }
}

function lines(text: string): string[] {
  return text.replace(/^\uFEFF/, '').split(/\r?\n/);
}

/** Splits one CSV line (RFC 4180 quoting; no newlines inside quotes). */
function splitCsv(line: string, sep: string): string[] {
  if (sep === '\t') return line.split('\t');
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') (cur += '"'), i++;
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === sep) (out.push(cur), (cur = ''));
    else cur += ch;
  }
  out.push(cur);
  return out;
}

const TEXT_COLUMNS = ['sentence', 'text', 'sms', 'review', 'content', 'message'];
const LABEL_COLUMNS = ['label', 'labels', 'class', 'category'];

/** A table with a header line (TSV when the header has a tab, else CSV). */
export function readTable(text: string, source: string, cols: { text?: string; label?: string } = {}): ClassExample[] {
  const ls = lines(text);
  while (ls.length && ls[ls.length - 1].trim() === '') ls.pop();
  if (!ls.length || ls[0].trim() === '') throw new Error(`${source}: the file is empty`);
  const sep = ls[0].includes('\t') ? '\t' : ',';
  const header = splitCsv(ls[0], sep).map((h) => h.trim());
  const find = (given: string | undefined, names: string[], what: string) => {
    const lower = header.map((h) => h.toLowerCase());
    const i = given ? lower.indexOf(given.toLowerCase()) : lower.findIndex((h) => names.includes(h));
    if (i < 0) throw new Error(`${source}: no ${what} column${given ? ` named ${given}` : ` (looked for ${names.join(', ')})`}; the header has ${header.join(', ')}`);
    return i;
  };
  const ti = find(cols.text, TEXT_COLUMNS, 'text');
  const li = find(cols.label, LABEL_COLUMNS, 'label');
  const out: ClassExample[] = [];
  for (let n = 1; n < ls.length; n++) {
    if (ls[n].trim() === '') continue;
    const f = splitCsv(ls[n], sep);
    if (f.length <= Math.max(ti, li)) throw new Error(`${source}:${n + 1}: ${f.length} fields, the header has ${header.length}`);
    out.push({ text: f[ti].trim(), label: f[li].trim() });
  }
  if (!out.length) throw new Error(`${source}: no rows after the header`);
  return out;
}

/** One example per non-empty line, all of class `label` (e.g. rt-polarity.pos). */
export function readLines(text: string, source: string, label: string): ClassExample[] {
  const out = lines(text)
    .map((l) => l.trim())
    .filter(Boolean)
    .map((t) => ({ text: t, label }));
  if (!out.length) throw new Error(`${source}: the file is empty`);
  return out;
}

function parseJsonl(text: string, source: string): { obj: Record<string, unknown>; line: number }[] {
  const out: { obj: Record<string, unknown>; line: number }[] = [];
  lines(text).forEach((l, i) => {
    if (!l.trim()) return;
    let v: unknown;
    try {
      v = JSON.parse(l);
    } catch (e) {
      throw new Error(`${source}:${i + 1}: invalid JSON (${(e as Error).message})`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${source}:${i + 1}: expected a JSON object`);
    out.push({ obj: v as Record<string, unknown>, line: i + 1 });
  });
  if (!out.length) throw new Error(`${source}: the file is empty`);
  return out;
}

/** JSONL of {"sentence"|"text", "label"} objects. */
export function readJsonlClassification(text: string, source: string): ClassExample[] {
  return parseJsonl(text, source).map(({ obj, line }) => {
    const t = obj.sentence ?? obj.text;
    if (typeof t !== 'string') throw new Error(`${source}:${line}: no string "sentence" or "text" field`);
    if (typeof obj.label !== 'string' && typeof obj.label !== 'number') throw new Error(`${source}:${line}: no "label" (string or number)`);
    return { text: t, label: String(obj.label) };
  });
}

/** JSONL of {"premise", "choices": [...], "label": index} objects (COPA style). */
export function readJsonlChoice(text: string, source: string): ChoiceExample[] {
  return parseJsonl(text, source).map(({ obj, line }) => {
    const { premise, choices, label } = obj;
    if (typeof premise !== 'string') throw new Error(`${source}:${line}: no string "premise" field`);
    if (!Array.isArray(choices) || choices.length < 2 || !choices.every((c) => typeof c === 'string')) {
      throw new Error(`${source}:${line}: "choices" must be a list of at least 2 strings`);
    }
    if (typeof label !== 'number' || !Number.isInteger(label) || label < 0 || label >= choices.length) {
      throw new Error(`${source}:${line}: "label" must be an index into the ${choices.length} choices, got ${JSON.stringify(label)}`);
    }
    return { premise, choices: choices as string[], label };
  });
}

/** JSONL of {"prompt", "completion"} objects, as causal-LM documents prompt + completion. */
export function readJsonlPromptCompletion(text: string, source: string): string[] {
  return parseJsonl(text, source).map(({ obj, line }) => {
    if (typeof obj.prompt !== 'string' || typeof obj.completion !== 'string') throw new Error(`${source}:${line}: needs string "prompt" and "completion" fields`);
    return obj.prompt + obj.completion;
  });
}

/** Classification data by content: JSONL when the first line is an object, else a table. */
export function readClassification(text: string, source: string, cols: { text?: string; label?: string } = {}): ClassExample[] {
  const first = lines(text).find((l) => l.trim());
  if (first === undefined) throw new Error(`${source}: the file is empty`);
  return first.trim().startsWith('{') ? readJsonlClassification(text, source) : readTable(text, source, cols);
}
