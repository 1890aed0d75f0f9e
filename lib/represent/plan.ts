import path from 'node:path';
import type { ControlOptions } from '../measure/controls.js';
import type { PlannedSequence } from '../run-trace.js';
import type { Checkpoint } from '../trace/checkpoint.js';
import type { ResidualStream } from '../trace/residual-stream.js';
import { residualStreamOf } from '../trace/states.js';
import { stateRows } from './span-rows.js';
import type { StateSequence } from './representations.js';

/** Each model's residual stream, or the first reason one model's cannot be read (then no model's states are captured). */
export async function residualStreams(checkpoints: ReadonlyArray<{ name: string; checkpoint: Checkpoint }>): Promise<Map<string, ResidualStream> | string> {
  const streams = new Map<string, ResidualStream>();
  for (const { name, checkpoint } of checkpoints) {
    const stream = await residualStreamOf(checkpoint);
    if (typeof stream === 'string') return `${checkpoint.graphFile}: ${stream}`;
    streams.set(name, stream);
  }
  return streams;
}

/** The planned sequences as the representation measures read them: rows, and each model's states folder under `traces`. */
export function stateSequences(planned: readonly PlannedSequence[], traces: string, models: readonly string[], controls: ControlOptions): StateSequence[] {
  return planned.map((p) => ({
    concept: p.concept?.id ?? '',
    sequence: p.sequenceId ?? p.dir,
    ...(p.paraphraseOf ? { paraphraseOf: p.paraphraseOf } : {}),
    rows: stateRows(p.aligned, controls),
    dirs: Object.fromEntries(models.map((m) => [m, path.join(traces, m, p.dir)])),
  }));
}
