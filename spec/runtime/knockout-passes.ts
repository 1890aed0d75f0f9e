import type { Checkpoint } from '../../lib/checkpoint/checkpoint.js';
import type { ResidualStream } from '../../lib/checkpoint/residual-stream.js';
import { openKnockoutSession, spanKnockout, type KnockoutPass } from '../../lib/runtime/knockout-session.js';
import { residualStreamOf } from '../../lib/runtime/states-session.js';

/** The text every knockout parity spec runs: a concept at tokens 5–6, repeated later. */
export const TEXT = 'The statement was hearsay, so the court excluded it under the rule against hearsay.';

export async function streamOf(checkpoint: Checkpoint): Promise<ResidualStream> {
  const stream = await residualStreamOf(checkpoint);
  if (typeof stream === 'string') throw new Error(stream);
  return stream;
}

/** One pass: a span knocked out in every layer, in the last layer alone, and an earlier token in layer 0 alone. */
export async function knockouts(checkpoint: Checkpoint, ids: BigInt64Array, blockRows?: number): Promise<KnockoutPass> {
  const session = await openKnockoutSession(checkpoint, await streamOf(checkpoint), blockRows === undefined ? {} : { blockRows });
  const T = ids.length;
  try {
    return await session.run(ids, [spanKnockout(T, [5, 6], session.layers), spanKnockout(T, [5, 6], session.layers, [session.layers - 1]), spanKnockout(T, [2], session.layers, [0])]);
  } finally {
    await session.release();
  }
}

/** Largest |a − b| over the positions that predict a token of the text (the last is NaN in both). */
export function largestDifference(a: Float32Array, b: Float32Array, T: number): number {
  let max = 0;
  for (let k = 0; k < a.length; k++) if (k % T !== T - 1) max = Math.max(max, Math.abs(a[k]! - b[k]!));
  return max;
}
