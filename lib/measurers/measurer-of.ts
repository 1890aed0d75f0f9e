import type { ResidualStream } from '../checkpoint/residual-stream.js';
import type { ValueProjection } from '../checkpoint/graph-analysis.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import type { SessionOptions } from '../runtime/session.js';
import type { CompareRequest } from '../options/run-options.js';
import type { PreparedCompare } from '../plan/compare-plan.js';
import { checkpointMaps, FullMapMeasurer } from './full-maps.js';
import { InGraphMeasurer } from './in-graph.js';
import type { Measurer, PassOptions } from './measurer.js';

/** Threads and device of every session of a compare. */
export const sessionOptions = (request: CompareRequest): SessionOptions => ({ ...(request.threads ? { threads: request.threads } : {}), ...(request.device ? { device: request.device } : {}) });

/** How every model of a compare is measured: one measurer, with the same batches, threads and device. */
export function measurerOf({ request, analysis, maps, mapLayers }: PreparedCompare, checkpoint: Checkpoint, stream?: ResidualStream, valueProjections?: ValueProjection[]): Measurer {
  const options: PassOptions = {
    ...(request.batchSize ? { batchSize: request.batchSize } : {}),
    ...sessionOptions(request),
    ...(request.maxMemoryBytes ? { maxMemoryBytes: request.maxMemoryBytes } : {}),
  };
  return maps === 'full' ? new FullMapMeasurer(checkpointMaps(checkpoint, options), analysis.measure) : new InGraphMeasurer(checkpoint, analysis.measure, mapLayers, options, stream, valueProjections);
}
