/** Benjamini–Hochberg q-values (step-up, monotone, at most 1); NaN p-values are left out and stay NaN. */
export function benjaminiHochberg(p: Float64Array): Float64Array {
  const q = new Float64Array(p.length).fill(Number.NaN);
  const order = Array.from(p.keys())
    .filter((k) => !Number.isNaN(p[k]!))
    .sort((a, b) => p[a]! - p[b]!);
  const m = order.length;
  let running = 1;
  for (let r = m - 1; r >= 0; r--) {
    running = Math.min(running, (p[order[r]!]! * m) / (r + 1));
    q[order[r]!] = running;
  }
  return q;
}
