import path from 'node:path';
import { writeJson, writeOutputFolder } from '../io/atomic.js';
import { traceRecord } from '../results/trace-file.js';
import { writeSequence, type SequenceMaps } from '../results/trace-folder.js';
import { headMean } from '../measure/head-mean.js';
import { longestSequence, planSequences, type PlanRequest, type TracedSequence } from '../plan/planned-sequence.js';
import { checkFullMapsFit } from '../checkpoint/fit.js';
import { openCheckpoint, type Checkpoint } from '../checkpoint/checkpoint.js';
import { checkDevice } from '../runtime/session.js';
import { traceAttentionCached, traceHeadMeansCached, type TraceOptions } from '../runtime/passes.js';
import { type MapsMode } from '../measure/maps-mode.js';

export interface TraceRequest extends Omit<TraceOptions, 'onProgress'>, PlanRequest {
  /** A checkpoint folder, or one already opened. */
  model: string | Checkpoint;
  out: string;
  maps?: MapsMode;
  /** Refuse `--maps full` for a sequence whose map would be larger than this. */
  maxMapBytes?: number;
  cacheDir?: string;
  /** Replace a non-empty `out` that legal-attn did not write. */
  force?: boolean;
  /** Read and fill the trace cache (default true). */
  useCache?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface TraceSummary {
  out: string;
  checkpoint: Checkpoint;
  sequences: TracedSequence[];
  /** Sequences run through the model, and sequences read from the trace cache. */
  computed: number;
  fromCache: number;
}

/**
 * The `trace` stage end to end: checks every input before the model is loaded, runs
 * the checkpoint once over all sequences and writes, per sequence, `tokens.json` and
 * the maps asked for. Each sequence folder appears whole or not at all; `trace.json`
 * is written last and lists what was traced.
 */
export async function traceToFolder(request: TraceRequest): Promise<TraceSummary> {
  const maps = request.maps ?? 'full';
  const openOptions = request.cacheDir === undefined ? {} : { cacheDir: request.cacheDir };
  const checkpoint = typeof request.model === 'string' ? await openCheckpoint(request.model, openOptions) : request.model;
  const planned = await planSequences(request, checkpoint);
  if (maps === 'full') checkFullMapsFit(checkpoint, longestSequence(planned), request.maxMapBytes);
  if (request.device) checkDevice(request.device);

  const out = path.resolve(request.out);
  const ids = planned.map((p) => p.aligned.ids);
  let computed = 0;
  let fromCache = 0;
  const record = await writeOutputFolder(out, { force: request.force ?? false }, async (staging) => {
    for await (const { index, sequenceMaps, cached } of tracesFor(request, checkpoint, ids, maps)) {
      if (cached) fromCache++;
      else if (maps !== 'none') computed++;
      const item = planned[index]!;
      await writeSequence(path.join(staging, item.dir), item, sequenceMaps);
    }
    const written = traceRecord(checkpoint, planned, { maps, chatTemplate: request.chatTemplate ?? false });
    await writeJson(path.join(staging, 'trace.json'), written);
    return written;
  });
  return { out, checkpoint, sequences: record.sequences, computed, fromCache };
}

/**
 * Each sequence's maps as they come: `full` from the patched graph (through the trace
 * cache unless it is off), `mean` averaged inside the graph where the attention was
 * found as Softmax nodes, `none` without running the model at all.
 */
async function* tracesFor(request: TraceRequest, checkpoint: Checkpoint, ids: BigInt64Array[], maps: MapsMode): AsyncGenerator<{ index: number; sequenceMaps: SequenceMaps; cached: boolean }> {
  if (maps === 'none') {
    for (let index = 0; index < ids.length; index++) yield { index, sequenceMaps: {}, cached: false };
    return;
  }
  if (maps === 'mean' && checkpoint.graph.attentionSource !== 'outputs') {
    for await (const { index, mean, cached } of traceHeadMeansCached(checkpoint, ids, request)) yield { index, sequenceMaps: { mean }, cached };
    return;
  }
  for await (const { index, attention, cached } of traceAttentionCached(checkpoint, ids, request)) yield { index, sequenceMaps: maps === 'mean' ? { mean: headMean(attention) } : { full: attention }, cached };
}

