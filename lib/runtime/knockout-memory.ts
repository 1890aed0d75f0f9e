import { badInput } from '../errors.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import { blockRowsFor } from './attention-blocks.js';

const GIB = 1024 ** 3;

/**
 * Queries per block of a knockout pass's attention over the longest sequence, or
 * undefined for whole layers: blocks where `blockRowsFor` would run the measuring passes
 * (one sequence a pass) in blocks, sized for the least knockout run (the baseline and
 * one knocked-out row); the same for every model of a lineage. A fused kernel takes
 * its whole bias `[rows, 1, T, T]`, so fused layers are never blocked, nor is a layer
 * whose query·key product was not found.
 */
export function knockoutBlockRows(checkpoint: Checkpoint, longest: number, budget: number): number | undefined {
  if (checkpoint.graph.attention.some((site) => site.fused || !site.product)) return undefined;
  const heads = checkpoint.shape.heads ?? 1;
  return blockRowsFor(heads, longest, 1, budget) === undefined ? undefined : blockRowsFor(heads, longest, 2, budget);
}

/**
 * Bytes one row of a knockout pass takes at its peak, roughly, in float32: the logits
 * `[T, V]`, a few `[T, hidden]` activations, and a layer's scores, probabilities and mask:
 * `[heads, T, T]` whole, `[heads, B, T]` and their copies in the loop in blocks of B, and
 * the bias `[T, T]` a fused kernel takes besides.
 */
export function knockoutRowBytes(checkpoint: Checkpoint, T: number, blockRows: number | undefined): number {
  const vocab = checkpoint.graph.embeddingRows ?? checkpoint.shape.vocabSize ?? 0;
  const heads = checkpoint.shape.heads ?? 1;
  const hidden = checkpoint.shape.hiddenSize ?? 0;
  const attention = blockRows ? 8 * heads * blockRows : 3 * heads * T;
  const bias = checkpoint.graph.attention.some((site) => site.fused) ? T : 0;
  return 4 * T * (vocab + attention + bias + 8 * hidden);
}

/** A sequence a knockout pass runs: its folder (concept/sequence) and token count. */
export interface KnockedOutSequence {
  dir: string;
  length: number;
}

/**
 * Refuses, before any model runs, a knockout whose longest sequence cannot run even one
 * knocked-out row beside its baseline within `budget` (`--max-memory-gb`), blocks of
 * queries counted where they apply: a run over it would be killed for want of memory.
 */
export function checkKnockoutFits(checkpoint: Checkpoint, sequences: readonly KnockedOutSequence[], budget: number): void {
  const longest = Math.max(0, ...sequences.map((s) => s.length));
  const sequence = sequences.find((s) => s.length === longest);
  if (!sequence) return;
  const least = (limit: number): { blockRows: number | undefined; bytes: number } => {
    const blockRows = knockoutBlockRows(checkpoint, longest, limit);
    return { blockRows, bytes: 2 * knockoutRowBytes(checkpoint, longest, blockRows) };
  };
  const { blockRows, bytes } = least(budget);
  if (bytes <= budget) return;
  // a larger budget may choose larger blocks: the least budget that holds its own run
  let needed = bytes;
  for (let k = 0; k < 8 && least(needed).bytes > needed; k++) needed = least(needed).bytes;
  const how = blockRows ? `attention in blocks of ${blockRows} queries` : 'whole layers';
  throw badInput(
    `--max-memory-gb ${gib(budget)}: attention knockout of ${sequence.dir} (${longest} tokens, ${how}) needs about ${gib(bytes / 2)} GiB a row, ${gib(bytes)} GiB for one knocked-out row beside its baseline; raise --max-memory-gb to ${gibAbove(needed)} or more, or drop --knockout.`,
  );
}

/** Bytes in GiB to two significant digits, and rounded up to them (a budget that suffices). */
const gib = (bytes: number): string => String(Number((bytes / GIB).toPrecision(2)));
function gibAbove(bytes: number): string {
  const value = bytes / GIB;
  const step = 10 ** (Math.floor(Math.log10(value)) - 1);
  return String(Number((Math.ceil(value / step) * step).toPrecision(2)));
}
