/**
 * A span's change judged against controls of its own class: z = (Δ − m) / max(σ, ε)
 * per measure (head or state), where m and σ are the mean and sample standard
 * deviation of the changes of its matched control runs (nearest in position, sequence
 * length, token frequency, word pieces, word alignment and embedding norm, from every
 * sequence of the run), and ε the precision of the measure. A difference below that
 * precision is a tie, z = 0: float rounding between two exports must not be ranked.
 */
export function classMatchedEffect(delta: ArrayLike<number>, controls: Float64Array, matched: readonly number[], measures: number, precision: number): Float64Array {
  const z = new Float64Array(measures);
  const n = matched.length;
  for (let h = 0; h < measures; h++) {
    let sum = 0;
    for (const run of matched) sum += controls[run * measures + h]!;
    const mean = sum / n;
    let squares = 0;
    for (const run of matched) squares += (controls[run * measures + h]! - mean) ** 2;
    const sd = n > 1 ? Math.sqrt(squares / (n - 1)) : 0;
    const offset = delta[h]! - mean;
    z[h] = n < MIN_MATCHED ? Number.NaN : Math.abs(offset) < precision ? 0 : offset / Math.max(sd, precision);
  }
  return z;
}

/** Fewer matched controls than this give no effect (NaN): a spread of a handful of runs is no baseline. */
export const MIN_MATCHED = 10;

/** The precision of an attention share computed in float32 (sums of float32 probabilities). */
export const SHARE_PRECISION = 1e-6;
/** The precision of 1 − cos between float32 states. */
export const COSINE_PRECISION = 1e-6;
/**
 * The precision of a knockout's change in summed log-likelihood, in nats: float32
 * log-probs summed over a text's tokens. Two exports of the same weights differ by up
 * to 2.6e-5 nats over the shipped texts, which must be a tie.
 */
export const KNOCKOUT_PRECISION = 1e-4;
