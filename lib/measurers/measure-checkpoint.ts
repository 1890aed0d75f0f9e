import path from 'node:path';
import { writeJson } from '../io/atomic.js';
import { type SequenceMeasures } from '../measure/measure-sequence.js';
import { traceRecord, type TraceRecord } from '../results/trace-file.js';
import { writeStates } from '../represent/capture.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import type { PlannedSequence } from '../plan/planned-sequence.js';
import { writeSequence } from '../results/trace-folder.js';
import type { Measurer } from './measurer.js';

/** What measuring one checkpoint gave: its trace.json and each sequence's measures, in plan order. */
export interface CheckpointMeasures {
  record: TraceRecord;
  measures: SequenceMeasures[];
  computed: number;
  fromCache: number;
}

/**
 * Measures one checkpoint with a measurer and writes its trace folder as it goes: per
 * sequence tokens.json and the kept maps, then trace.json. One loop for every measurer.
 */
export async function measureCheckpoint(
  checkpoint: Checkpoint,
  planned: readonly PlannedSequence[],
  measurer: Measurer,
  folder: string,
  options: { chatTemplate: boolean; onProgress?: (done: number, total: number) => void },
): Promise<CheckpointMeasures> {
  const blockRows = measurer.blockRows?.(planned);
  const record = traceRecord(checkpoint, planned, {
    maps: measurer.maps,
    ...(measurer.maps === 'mean' ? { mapLayers: [...measurer.mapLayers] } : {}),
    ...(blockRows ? { blockRows } : {}),
    chatTemplate: options.chatTemplate,
  });
  const measures = new Array<SequenceMeasures>(planned.length);
  let computed = 0;
  let fromCache = 0;
  for await (const pass of measurer.measure(planned)) {
    if (pass.cached) fromCache++;
    else computed++;
    measures[pass.index] = pass.measures;
    await writeSequence(path.join(folder, planned[pass.index]!.dir), planned[pass.index]!, pass.maps);
    if (pass.states) await writeStates(path.join(folder, planned[pass.index]!.dir), pass.states.tensor, pass.states.rows);
    options.onProgress?.(computed + fromCache, planned.length);
  }
  // written last: trace.json tells a whole trace folder
  await writeJson(path.join(folder, 'trace.json'), record);
  return { record, measures, computed, fromCache };
}
