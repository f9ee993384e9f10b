// The engine's adapters: the trained run's, and PEFT adapters the user opened (a zip as the app
// downloads it, or the two files); which one Predict and Download use; the download itself, one
// zip in the PEFT layout named after the run.
import { unzipSync, zipSync } from 'fflate';
import { LoraState } from '../adapter/lora';
import { readAdapter, writeAdapter, type AdapterTensors } from '../adapter/peft';
import { sessionStore, type StoredAdapter, type StoredAdapters } from '../train/session_store';
import { eng, needModel, notWhileTraining, post } from './engine_state';
import { TRAINED_ADAPTER, type AdapterDownload, type AdapterEntry, type AdapterExport, type Commands } from './protocol';

/** The adapter Predict and Download use: the opened one chosen last, else the run's, else the last opened. */
export function primaryName(): string | null {
  if (eng.primaryOpened && eng.opened.has(eng.primaryOpened)) return eng.primaryOpened;
  if (eng.tuner?.lora) return TRAINED_ADAPTER;
  return [...eng.opened.keys()].pop() ?? null;
}

/** An adapter of the list by name: its GPU state, and its host tensors for a multi-adapter pass. */
export function adapterNamed(name: string): { lora: LoraState; host: () => Promise<AdapterTensors> } {
  const lora = name === TRAINED_ADAPTER ? eng.tuner?.lora : eng.opened.get(name)?.lora;
  if (!lora) {
    const have = listAdapters().map((a) => JSON.stringify(a.name));
    throw new Error(`no adapter named ${JSON.stringify(name)} (the adapters: ${have.join(', ') || 'none yet: train or open one'})`);
  }
  const o = eng.opened.get(name);
  return { lora, host: o ? async () => o.tensors : () => lora.toHost() };
}

export function listAdapters(): AdapterEntry[] {
  const primary = primaryName();
  const entry = (name: string, kind: AdapterEntry['kind'], l: LoraState): AdapterEntry => {
    const c = l.config;
    return { name, kind, rank: c.rank, alpha: c.alpha, targets: [...c.targets], primary: name === primary };
  };
  const t = eng.tuner?.lora;
  return [...(t ? [entry(TRAINED_ADAPTER, 'trained', t)] : []), ...[...eng.opened].map(([n, o]) => entry(n, 'opened', o.lora))];
}

/** The name an opened adapter gets: the one given, else its file's stem, else "adapter N" (the first free N). */
function adapterName(given: string, files: string[]): string {
  const g = given.trim();
  if (g) {
    if (g === TRAINED_ADAPTER) throw new Error(`"${TRAINED_ADAPTER}" names the trained run's adapter: give the opened one another name`);
    return g;
  }
  const stem = files.map((f) => f.replace(/\.(safetensors|json|zip)$/i, '')).find((n) => n && !/^adapter_(model|config)$/.test(n) && n !== TRAINED_ADAPTER);
  if (stem) return stem;
  let n = 1;
  while (eng.opened.has(`adapter ${n}`)) n++;
  return `adapter ${n}`;
}

/** Reads a PEFT adapter against the loaded model and adds it to the opened ones (the same name replaces). */
export function openAdapter(files: StoredAdapter): boolean {
  const { model } = needModel();
  const tensors = readAdapter({ config: files.config, safetensors: files.safetensors }, model.config, files.file);
  const lora = LoraState.fromAdapter(model.gpu, model.config, tensors);
  const old = eng.opened.get(files.name);
  old?.lora.destroy();
  eng.opened.delete(files.name); // a replaced adapter moves to the end, as newly opened
  eng.opened.set(files.name, { tensors, lora, files });
  return !!old;
}

/** The opened adapters as the session keeps them. */
export function openedToStore(): StoredAdapters {
  return { list: [...eng.opened.values()].map((o) => o.files), primary: eng.primaryOpened };
}

/** Keeps the opened adapters with the saved session, so a reload opens them again. */
export async function persistOpened(): Promise<void> {
  if (!eng.session.persisted) return;
  await sessionStore
    .saveAdapters(eng.session.id, openedToStore())
    .catch((e: unknown) => post('log', { message: `the opened adapters are not saved in the browser (${(e as Error).message}); open them again after a reload` }));
}

/** The two PEFT files of a zip (at its top level or in one folder); an error names what is missing. */
function unzipAdapter(zip: Uint8Array, file: string): { config: string; safetensors: Uint8Array; configFile: string; file: string } {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(zip);
  } catch (e) {
    throw new Error(`${file}: not a zip archive (${(e as Error).message})`);
  }
  const names = Object.keys(entries).filter((n) => !n.endsWith('/'));
  const find = (base: string) => names.find((n) => n === base || n.endsWith(`/${base}`));
  const cfg = find('adapter_config.json');
  const st = find('adapter_model.safetensors');
  if (!cfg || !st) {
    throw new Error(`${file}: the zip holds ${names.join(', ') || 'no files'}; an adapter zip holds adapter_config.json and adapter_model.safetensors (the PEFT layout)`);
  }
  return { config: new TextDecoder().decode(entries[cfg]), safetensors: entries[st], configFile: `${file}/${cfg}`, file: `${file}/${st}` };
}

export async function importAdapter(a: Commands['importAdapter']['args']) {
  notWhileTraining('opening an adapter');
  let files: { config: string; safetensors: Uint8Array; configFile: string; file: string };
  if (a.zip) files = unzipAdapter(a.zip, a.file);
  else {
    if (a.config === undefined || !a.safetensors) throw new Error('open an adapter zip, or both adapter_config.json and adapter_model.safetensors');
    files = { config: a.config, safetensors: a.safetensors, configFile: a.configFile ?? 'adapter_config.json', file: a.file };
  }
  const name = adapterName(a.name, a.zip ? [a.file] : [a.file, files.configFile]);
  const replaced = openAdapter({ name, ...files });
  eng.primaryOpened = name;
  await persistOpened();
  const adapters = listAdapters();
  return { entry: adapters.find((e) => e.name === name)!, replaced, adapters };
}

export async function removeAdapter(name: string): Promise<AdapterEntry[]> {
  notWhileTraining('removing an adapter');
  const o = eng.opened.get(name);
  if (!o) throw new Error(name === TRAINED_ADAPTER ? 'the trained run\'s adapter goes with its run: press "New run" to discard it' : `no opened adapter named ${JSON.stringify(name)}`);
  o.lora.destroy();
  eng.opened.delete(name);
  if (eng.primaryOpened === name) eng.primaryOpened = null;
  await persistOpened();
  return listAdapters();
}

/** A name for files: lower case, letters, digits and dashes. */
function slug(s: string): string {
  return (
    s
      .toLowerCase()
      .replace(/\.(bin|gguf|safetensors|txt|jsonl?|tsv|csv|md)$/i, '')
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'run'
  );
}

/** What the run trained on, for its file name. */
function dataName(): string {
  const s = eng.data?.spec;
  if (!s) return 'adapter';
  if (s.demo) return 'keepers-log';
  if (s.preset) return s.preset;
  if (s.files?.[0]) return slug(s.files[0].name);
  return s.text !== undefined ? 'pasted-text' : 'data';
}

/** The primary adapter's PEFT files (the run's last checkpoint when it is the adapter now). */
async function adapterFiles(): Promise<{ files: AdapterExport; name: string }> {
  const { info } = needModel();
  const name = primaryName();
  if (name === null) throw new Error('no adapter yet: train or open one');
  const o = eng.opened.get(name);
  if (o) return { files: writeAdapter(o.tensors, { baseModelName: info.name }), name: `mobizo-${slug(info.name)}-${slug(name)}` };
  const t = eng.tuner!;
  const run = `mobizo-${slug(info.name)}-${dataName()}-step${t.step}`;
  const cp = t.checkpoint;
  if (cp && (JSON.parse(cp['trainer_state.json']) as { step: number }).step === t.step) {
    return { files: { 'adapter_config.json': cp['adapter_config.json'], 'adapter_model.safetensors': cp['adapter_model.safetensors'] }, name: run };
  }
  return { files: writeAdapter(await adapterNamed(name).host(), { baseModelName: info.name }), name: run };
}

/** The adapter as one zip of the PEFT files (adapter_config.json + adapter_model.safetensors), named after the run. */
export async function exportAdapter(): Promise<AdapterDownload> {
  notWhileTraining('download');
  const { files, name } = await adapterFiles();
  const entries = { 'adapter_config.json': new TextEncoder().encode(files['adapter_config.json']), 'adapter_model.safetensors': files['adapter_model.safetensors'] };
  return { name: `${name}.zip`, zip: zipSync(entries, { level: 6 }), files: Object.keys(entries) };
}
