// Smoke test for the browser path: out[i] = 2 * i for i < n. The dispatch covers more invocations
// than n (n is not a multiple of the workgroup size) to check the bounds guard too.

struct Params {
  n: u32, // number of elements to write
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>; // [n]

@compute @workgroup_size(64)
fn gpu_smoke(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= params.n) {
    return;
  }
  out[i] = 2u * i;
}
