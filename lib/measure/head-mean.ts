import type { Float32Tensor } from '../io/npy.js';

/** Head-averaged attention: `[layers, heads, T, T]` → `[layers, T, T]`, M[l][i][j] = (1/H) Σ_h A[l][h][i][j]. */
export function headMean(attention: Float32Tensor): Float32Tensor {
  const [layers = 0, heads = 0, rows = 0, cols = 0] = attention.dims;
  const size = rows * cols;
  const mean = new Float32Array(layers * size);
  for (let l = 0; l < layers; l++) {
    const target = mean.subarray(l * size, (l + 1) * size);
    for (let h = 0; h < heads; h++) {
      const source = attention.data.subarray((l * heads + h) * size, (l * heads + h + 1) * size);
      for (let k = 0; k < size; k++) target[k]! += source[k]! / heads;
    }
  }
  return { data: mean, dims: [layers, rows, cols] };
}
