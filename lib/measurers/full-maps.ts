import path from 'node:path';
import { readNpy, type Float32Tensor } from '../io/npy.js';
import { measureSequence, type MeasureOptions } from '../measure/measure-sequence.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import { traceAttentionCached } from '../runtime/passes.js';
import type { PlannedSequence } from '../plan/planned-sequence.js';
import type { MeasuredPass, Measurer, PassOptions } from './measurer.js';

/** Each planned sequence's full maps as they come, by index. */
export type MapSource = (planned: readonly PlannedSequence[]) => AsyncIterable<{ index: number; attention: Float32Tensor; cached: boolean }>;

/** Every measure from each sequence's full `[layers, heads, T, T]` maps, which are kept. */
export class FullMapMeasurer implements Measurer {
  readonly maps = 'full';
  readonly mapLayers = [];

  constructor(
    private readonly source: MapSource,
    private readonly measureOptions: MeasureOptions,
  ) {}

  async *measure(planned: readonly PlannedSequence[]): AsyncGenerator<MeasuredPass> {
    for await (const { index, attention, cached } of this.source(planned)) {
      const { aligned, references } = planned[index]!;
      yield { index, measures: measureSequence(attention, aligned.spans, this.measureOptions, references), maps: { full: attention }, cached };
    }
  }
}

/** The maps of a checkpoint's passes, through the trace cache. */
export const checkpointMaps =
  (checkpoint: Checkpoint, options: PassOptions = {}): MapSource =>
  (planned) =>
    traceAttentionCached(
      checkpoint,
      planned.map((p) => p.aligned.ids),
      { ...options, batchSize: options.batchSize ?? 1 },
    );

/** The per-head maps an earlier `--maps full` run saved in a trace folder: no model runs. */
export const savedMaps =
  (traceFolder: string): MapSource =>
  async function* (planned) {
    for (const [index, p] of planned.entries()) yield { index, attention: await readNpy(path.join(traceFolder, p.dir, 'attentions.npy')), cached: true };
  };
