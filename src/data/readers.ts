// Readers: turn the text of a training file into documents (strings). They take text, never a path,
// so they run in browsers and in Node alike; the caller reads the file and names it (`source`),
// and every error names that source.
//
// Formats:
// - 'text': documents separated by `<|endoftext|>` (the TinyStories convention) when the separator
//   occurs, else the whole text is one document. Each document is trimmed of the white space at its
//   ends (the newline after a separator); blank-line-separated paragraphs stay inside a document.
//   Documents that are empty after trimming are skipped.
// - 'jsonl': one JSON object per line with a string field `text`; blank lines are skipped. The text
//   is taken verbatim; an object whose text is empty or only white space is skipped.
// - auto (no format given): 'jsonl' when the first non-blank line starts with `{` and parses as
//   a JSON object, else 'text'.

export type TextFormat = 'text' | 'jsonl';

/** The document separator of plain-text corpora (GPT-2's end-of-text marker, used by TinyStories). */
export const DOC_SEPARATOR = '<|endoftext|>';

/** The format of `text` when none is given: 'jsonl' when its first non-blank line is a JSON object. */
export function detectFormat(text: string): TextFormat {
  const body = stripBom(text);
  const m = /^\s*(\S[^\r\n]*)/.exec(body);
  if (m?.[1][0] !== '{') return 'text';
  try {
    const v: unknown = JSON.parse(m[1]);
    return isObject(v) ? 'jsonl' : 'text';
  } catch {
    return 'text';
  }
}

/** The documents of a training file's text (see the formats above). Throws, naming `source`, when the
 * text holds no document or (JSONL) a line is not an object with a string `text` field. */
export function readTextDocuments(text: string, source: string, format?: TextFormat): string[] {
  if (typeof text !== 'string') throw new Error(`${source}: expected the file's text as a string, got ${typeof text}`);
  if (format !== undefined && format !== 'text' && format !== 'jsonl') {
    throw new Error(`${source}: unknown data format '${String(format)}' (expected 'text' or 'jsonl')`);
  }
  const body = stripBom(text);
  if (body.trim() === '') throw new Error(`${source}: the data is empty (no documents)`);
  const fmt = format ?? detectFormat(body);
  const docs = fmt === 'jsonl' ? readJsonl(body, source) : readPlain(body);
  if (docs.length === 0) {
    throw new Error(
      fmt === 'jsonl'
        ? `${source}: no documents (every "text" field is empty)`
        : `${source}: no documents (only '${DOC_SEPARATOR}' separators and white space)`,
    );
  }
  return docs;
}

function readPlain(body: string): string[] {
  const parts = body.includes(DOC_SEPARATOR) ? body.split(DOC_SEPARATOR) : [body];
  const docs: string[] = [];
  for (const p of parts) {
    const d = p.trim();
    if (d !== '') docs.push(d);
  }
  return docs;
}

function readJsonl(body: string, source: string): string[] {
  const lines = body.split('\n');
  const docs: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    if (line.trim() === '') continue;
    const where = `${source}:${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new Error(`${where}: invalid JSON (${(e as Error).message}): ${preview(line)}`);
    }
    if (!isObject(v)) throw new Error(`${where}: expected a JSON object with a "text" field, got ${kindOf(v)}`);
    if (!('text' in v)) throw new Error(`${where}: the object has no "text" field (fields: ${fieldList(v)})`);
    const t = v.text;
    if (typeof t !== 'string') throw new Error(`${where}: the "text" field is ${kindOf(t)}, not a string`);
    if (t.trim() !== '') docs.push(t);
  }
  return docs;
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function fieldList(v: Record<string, unknown>): string {
  const keys = Object.keys(v);
  if (keys.length === 0) return 'none';
  const shown = keys.slice(0, 8).map((k) => JSON.stringify(k));
  return keys.length > 8 ? `${shown.join(', ')}, ...` : shown.join(', ');
}

function preview(line: string): string {
  return line.length > 60 ? `${line.slice(0, 60)}...` : line;
}
