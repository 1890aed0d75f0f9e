import os from 'node:os';
import { badInput } from '../errors.js';
import type { Checkpoint } from './checkpoint.js';

/** The tokenizer must not produce ids the model's embedding table lacks. */
export function checkVocabularyFits(checkpoint: Checkpoint, tokenizerFile: string, tokenizerVocab: number): void {
  const rows = checkpoint.graph.embeddingRows ?? checkpoint.shape.vocabSize;
  if (rows !== undefined && tokenizerVocab > rows) {
    throw badInput(
      `${tokenizerFile}: the tokenizer has ${tokenizerVocab} tokens but the model's embedding has ${rows} rows; use the tokenizer.json saved with this checkpoint.`,
    );
  }
}

/** A sequence may not be longer than the positions the model was trained for. */
export function checkLengthFits(checkpoint: Checkpoint, tokens: number, where: string): void {
  const limit = checkpoint.shape.maxPositions;
  if (limit !== undefined && tokens > limit) {
    throw badInput(`${where}: the text is ${tokens} tokens long but ${checkpoint.name} takes at most ${limit} (max_position_embeddings); split the text.`);
  }
}

/** Bytes of one full float32 attention stack `[layers, heads, T, T]`. */
export const fullMapBytes = (layers: number, heads: number, tokens: number): number => layers * heads * tokens * tokens * 4;

const DEFAULT_MAX_MAP_BYTES = 4 * 1024 ** 3;

/** Refuses `--maps full` where the longest sequence's maps would exceed the limit (`--max-map-gb`). */
export function checkFullMapsFit(checkpoint: Checkpoint, longest: number, limit = DEFAULT_MAX_MAP_BYTES): void {
  const heads = checkpoint.shape.heads;
  if (heads === undefined) return;
  const bytes = fullMapBytes(checkpoint.graph.attention.length, heads, longest);
  if (bytes > limit) {
    throw badInput(
      `--maps full: the longest sequence (${longest} tokens) needs ${(bytes / 1024 ** 3).toFixed(2)} GiB of attention maps, over the ${(limit / 1024 ** 3).toFixed(2)} GiB limit; use --maps mean, or raise --max-map-gb.`,
    );
  }
}

/** Bytes the weights take in memory on the CPU: as stored, bfloat16 ones widened to float32 (twice as large). */
export const cpuWeightBytes = (checkpoint: Checkpoint): number => checkpoint.graph.format.weightBytes + checkpoint.graph.format.bfloat16Bytes;

const gib = (bytes: number): string => `${Number((bytes / 1024 ** 3).toPrecision(3))} GiB`;

/**
 * Refuses a checkpoint whose bfloat16 weights, widened to float32 for the CPU, would
 * take more memory than `budget` (default: this machine's memory, which they cannot exceed).
 */
export function checkWidenedWeightsFit(checkpoint: Checkpoint, budget?: number): void {
  const bytes = cpuWeightBytes(checkpoint);
  const limit = budget ?? os.totalmem();
  if (bytes > limit) {
    throw badInput(
      `${checkpoint.graphFile}: a bfloat16 checkpoint, widened to float32 on the CPU, needs ${gib(bytes)} for its weights, more than ${budget === undefined ? "this machine's memory" : 'the budget'} (${gib(limit)}); run it with --device cuda, or use a float16 or float32 export.`,
    );
  }
}

/** The layers whose head-averaged maps are kept (`--map-layers`, default the last), each one of the checkpoint's. */
export function mapLayersOf(checkpoint: Checkpoint | undefined, asked?: readonly number[]): number[] {
  const layers = checkpoint?.graph.attention.length ?? 0;
  const mapLayers = [...new Set(asked ?? [layers - 1])].sort((a, b) => a - b);
  for (const l of mapLayers) if (!Number.isInteger(l) || l < 0 || l >= layers) throw badInput(`--map-layers: layer ${l} is outside the models' layers 0 to ${layers - 1}.`);
  return mapLayers;
}

/** Refuses a `--knockout-layers` layer that is not one of the model's. */
export function checkKnockoutLayers(name: string, checkpoint: Checkpoint, asked: readonly number[] = []): void {
  const count = checkpoint.graph.attention.length;
  const outside = asked.find((l) => l >= count);
  if (outside !== undefined) throw badInput(`--knockout-layers: layer ${outside} is outside ${name}'s layers 0 to ${count - 1}.`);
}
