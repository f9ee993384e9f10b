// The ZO step's per-step uniform block, shared by every dispatch that reads it (mplora,
// slot_loss, class_loss, zo_grad, zo_update) and written once per step by its owner
// (src/gpu/step_block.ts). A pass without a perturbation (evaluation, generation) has eps = 0.

struct StepParams {
  seed: u32,      // step seed: the RNG key of this step's Z
  slotBase: u32,  // global slot of the current pass's first slot
  eps: f32,       // perturbation size; 0 = no perturbation (plain LoRA)
  lr: f32,        // learning rate of this step
}
