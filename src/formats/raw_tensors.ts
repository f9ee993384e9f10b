// The 16-bit matrices of a Hugging Face checkpoint as stored (F16 / BF16 bytes), by their GGUF
// names: the GPU keeps them 16-bit (Model.load reads `raw` the same way for GGUF files), instead
// of the float32 copies that would double their footprint.
import type { GgufRawTensor } from './gguf_model';
import type { SafetensorsTensor } from './safetensors';

const LAYER_NAMES: Record<string, string> = {
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
};

/** The GGUF name of a Hugging Face Llama-layout matrix, or undefined for other tensors. */
export function ggufNameOfHf(name: string): string | undefined {
  if (name === 'model.embed_tokens.weight') return 'token_embd.weight';
  if (name === 'lm_head.weight') return 'output.weight';
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
  const t = m && LAYER_NAMES[m[2]];
  return t ? `blk.${m[1]}.${t}` : undefined;
}

/** The F16 / BF16 matrices among `tensors` (HF names), as stored, by GGUF name. */
export function hfRawTensors(tensors: ReadonlyMap<string, SafetensorsTensor>): Map<string, GgufRawTensor> {
  const raw = new Map<string, GgufRawTensor>();
  for (const [name, t] of tensors) {
    const g = ggufNameOfHf(name);
    if (g && t.shape.length === 2 && (t.dtype === 'F16' || t.dtype === 'BF16')) raw.set(g, { type: t.dtype, shape: [...t.shape], bytes: t.data });
  }
  return raw;
}
