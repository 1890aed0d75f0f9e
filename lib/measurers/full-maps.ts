import path from 'node:path';
import { readNpy } from '../io/npy.js';
import { measureSequence, type MeasureOptions } from '../measure/measure-sequence.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import { traceAttentionCached } from '../runtime/passes.js';
import type { Measurer, PassOptions } from './measurer.js';

/** Every measure from each sequence's full `[layers, heads, T, T]` maps, which are kept. */
export function fullMapMeasurer(checkpoint: Checkpoint, measure: MeasureOptions, options: PassOptions = {}): Measurer {
  return {
    maps: 'full',
    mapLayers: [],
    async *measure(planned) {
      const ids = planned.map((p) => p.aligned.ids);
      for await (const { index, attention, cached } of traceAttentionCached(checkpoint, ids, { ...options, batchSize: options.batchSize ?? 1 })) {
        yield { index, measures: measureSequence(attention, planned[index]!.aligned.spans, measure, planned[index]!.references), maps: { full: attention }, cached };
      }
    },
  };
}

/** Every measure from the per-head maps an earlier `--maps full` run saved in a trace folder: no model runs. */
export function savedMapsMeasurer(traceFolder: string, measure: MeasureOptions): Measurer {
  return {
    maps: 'full',
    mapLayers: [],
    async *measure(planned) {
      for (const [index, p] of planned.entries()) {
        const attention = await readNpy(path.join(traceFolder, p.dir, 'attentions.npy'));
        yield { index, measures: measureSequence(attention, p.aligned.spans, measure, p.references), maps: { full: attention }, cached: true };
      }
    },
  };
}
