// What createGpu says in a page that is not a secure context (served from a host name that is not
// localhost): WebGPU asked for by name names the reason; auto falls back to WebAssembly and says why.
import { createGpu } from '../../../src/index';

async function main(): Promise<Record<string, unknown>> {
  let webgpuError = '';
  try {
    await createGpu({ backend: 'webgpu' });
  } catch (e) {
    webgpuError = (e as Error).message;
  }
  const gpu = await createGpu();
  return { secure: isSecureContext, hasGpu: 'gpu' in navigator, webgpuError, backend: gpu.backend, describe: gpu.describe() };
}

const page = window as unknown as { __result?: unknown };
main().then(
  (r) => (page.__result = r),
  (e: unknown) => (page.__result = { error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
);
