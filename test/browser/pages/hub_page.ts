// loadModel by Hugging Face reference in a page, against the mock hub whose address is ?hub=...:
// the GGUF file and the HF model repository named by ?refs=a,b are loaded (downloaded into
// IndexedDB the first time, read from it the second), each generates 16 greedy tokens.
import { createGpu, generateText, loadModel, type DownloadProgress } from '../../../src/index';

export interface HubPageResult {
  error?: string;
  models?: { ref: string; vocab: number | undefined; text: string; progress: DownloadProgress[] }[];
}

async function main(): Promise<HubPageResult> {
  const q = new URLSearchParams(location.search);
  const endpoint = q.get('hub') ?? '';
  const gpu = await createGpu();
  const models: NonNullable<HubPageResult['models']> = [];
  // ?abortAt=N: the download is aborted once N bytes arrived (an interrupted download, for the resume test)
  const abortAt = Number(q.get('abortAt') ?? 0);
  const abort = new AbortController();
  for (const ref of (q.get('refs') ?? '').split(',')) {
    const progress: DownloadProgress[] = [];
    const onProgress = (p: DownloadProgress) => {
      progress.push(p);
      if (abortAt && p.loaded >= abortAt) abort.abort(new Error(`aborted at byte ${p.loaded}`));
    };
    const model = await loadModel(gpu, ref, { endpoint, onProgress, signal: abort.signal });
    const { text } = await generateText(model, { prompt: 'Once upon a time', steps: 16, temperature: 0 });
    models.push({ ref, vocab: model.tokenizer?.vocabSize, text, progress: progress.filter((p) => p.cached || p.loaded === p.total) });
    model.destroy();
  }
  return { models };
}

const page = window as unknown as { __result?: HubPageResult };
main().then(
  (r) => (page.__result = r),
  (e: unknown) => (page.__result = { error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
);
