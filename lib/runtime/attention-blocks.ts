/** Default budget for one layer's attention in a pass: blocks of queries are made smaller to stay within it. */
export const DEFAULT_ATTENTION_BYTES = 2 * 1024 ** 3;
/** A layer whose scores take at most this many bytes runs whole: the loop over blocks would only cost time. */
const WHOLE_LAYER_BYTES = 32 * 1024 ** 2;
/** Queries per block where the budget allows: faster than whole layers from 1,024 tokens on, and far smaller (`npm run bench`). */
const BLOCK_ROWS = 128;

/**
 * Queries per block for the longest pass: none (whole layers) for short texts (at most
 * 128 tokens, or scores `batch × heads × T² × 4` of at most 32 MiB) whose scores, masked
 * scores and probabilities fit the budget; else 128, or fewer where
 * `8 × batch × heads × B × T × 4` bytes (the block's scores, mask, P and their copies
 * in the loop, measured) would pass the budget, a multiple of 16.
 */
export function blockRowsFor(heads: number, longest: number, batchSize: number, budget: number): number | undefined {
  const row = batchSize * heads * longest * 4;
  if ((longest <= BLOCK_ROWS || row * longest <= WHOLE_LAYER_BYTES) && 3 * row * longest <= budget) return undefined;
  return Math.max(16, Math.min(BLOCK_ROWS, Math.floor(budget / (8 * row) / 16) * 16));
}
