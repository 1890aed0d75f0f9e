/** Rows of vectors: `rows × width`, row-major. */
export interface Rows {
  data: Float32Array | Float64Array;
  rows: number;
  width: number;
}

/** 1 − cos(a, b); NaN when either vector is zero (no direction to compare). */
export function cosineDistance(a: ArrayLike<number>, b: ArrayLike<number>, from = 0, width = a.length, bFrom = from): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let k = 0; k < width; k++) {
    const x = a[from + k]!;
    const y = b[bFrom + k]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? Number.NaN : 1 - dot / Math.sqrt(na * nb);
}

/**
 * The doubly centred Gram matrix H·X·Xᵀ·H (H = I − 11ᵀ/n), `n × n`: linear CKA between
 * two sets of n rows needs only these, so a layer × layer CKA costs one Gram per layer
 * and model, never a `hidden × hidden` product.
 */
export function centredGram(x: Rows): Float64Array {
  const { rows: n, width: d, data } = x;
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) mean[k]! += data[i * d + k]! / n;
  const centred = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) centred[i * d + k] = data[i * d + k]! - mean[k]!;
  return rowProducts({ data: centred, rows: n, width: d });
}

/** X·Xᵀ, `n × n`: the products of every pair of rows. */
export function rowProducts(x: Rows): Float64Array {
  const { rows: n, width: d, data } = x;
  const gram = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let dot = 0;
      for (let k = 0; k < d; k++) dot += data[i * d + k]! * data[j * d + k]!;
      gram[i * n + j] = dot;
      gram[j * n + i] = dot;
    }
  }
  return gram;
}

/**
 * Linear CKA (Kornblith et al. 2019) from two centred Grams of the same n rows:
 * ⟨K, L⟩ / (‖K‖ ‖L‖) = ‖YᵀX‖² / (‖XᵀX‖ ‖YᵀY‖) on centred features. 1 for states
 * equal up to rotation and scale; NaN where one set has no spread.
 */
export function linearCka(k: Float64Array, l: Float64Array): number {
  let kl = 0;
  let kk = 0;
  let ll = 0;
  for (let i = 0; i < k.length; i++) {
    kl += k[i]! * l[i]!;
    kk += k[i]! * k[i]!;
    ll += l[i]! * l[i]!;
  }
  return kk === 0 || ll === 0 ? Number.NaN : kl / Math.sqrt(kk * ll);
}

/** Layer × layer CKA, `[a layers × b layers]`, from each model's centred Grams per layer. */
export function ckaMatrix(a: readonly Float64Array[], b: readonly Float64Array[]): Float64Array {
  const matrix = new Float64Array(a.length * b.length);
  a.forEach((k, i) => b.forEach((l, j) => (matrix[i * b.length + j] = linearCka(k, l))));
  return matrix;
}
