import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { badInput } from '../errors.js';
import { fieldProblem } from '../io/field-problem.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import { TOOL_VERSION } from '../version.js';
import { type MapsMode, type PlannedSequence, type TracedSequence } from '../plan/planned-sequence.js';

/** What trace.json records, read back by `measure` and by reuse. */
export interface TraceRecord {
  tool: { name: string; version: string };
  model: { name: string; dir: string; contentHash: string; attentionSource: string; layers: Checkpoint['graph']['attention']; shape: Checkpoint['shape'] };
  maps: MapsMode;
  /** With maps computed inside the graph: the layers whose head-averaged maps were kept. */
  mapLayers?: number[];
  /** Queries per block where attention ran as a loop over blocks of queries (long texts); absent: whole layers. */
  blockRows?: number;
  chatTemplate: boolean;
  inputsDigest: string;
  /** The traced concepts (empty for --text). */
  concepts: Array<{ id: string; name: string; area: string; source?: string; components?: string[]; structure?: Array<[string, string]> }>;
  sequences: TracedSequence[];
}

/** trace.json of a checkpoint run over every planned sequence, listed in plan order. */
export function traceRecord(checkpoint: Checkpoint, planned: readonly PlannedSequence[], fields: Pick<TraceRecord, 'maps' | 'mapLayers' | 'blockRows' | 'chatTemplate' | 'inputsDigest'>): TraceRecord {
  return {
    tool: { name: 'legal-attn', version: TOOL_VERSION },
    model: {
      name: checkpoint.name,
      dir: checkpoint.dir,
      contentHash: checkpoint.contentHash,
      attentionSource: checkpoint.graph.attentionSource,
      layers: checkpoint.graph.attention,
      shape: checkpoint.shape,
    },
    ...fields,
    concepts: [...new Map(planned.flatMap((p) => (p.concept ? [[p.concept.id, p.concept] as const] : []))).values()].map(
      ({ id, name, area, source, components, structure }) => ({ id, name, area, ...(source ? { source } : {}), ...(components ? { components } : {}), ...(structure ? { structure } : {}) }),
    ),
    sequences: planned.map((p) => ({ dir: p.dir, tokens: p.aligned.ids.length, ...(p.concept ? { concept: p.concept.id, sequence: p.sequenceId } : {}) })),
  };
}

// What readers of trace.json rely on; the rest is recorded for people.
const traceFileSchema = z.object({
  model: z.object({ dir: z.string(), contentHash: z.string() }),
  maps: z.enum(['none', 'mean', 'full']),
  sequences: z.array(z.object({ dir: z.string(), concept: z.string().optional(), sequence: z.string().optional() })),
});

/** Reads and checks a trace.json; a file that is missing or not of this form is named. */
export async function readTraceRecord(folder: string): Promise<TraceRecord> {
  const file = path.join(folder, 'trace.json');
  const text = await readFile(file, 'utf8').catch(() => {
    throw badInput(`${file}: not found; trace the model first (legal-attn trace or compare).`);
  });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw badInput(`${file}: not JSON; trace the model again.`, error);
  }
  const parsed = traceFileSchema.safeParse(value);
  if (!parsed.success) throw badInput(`${file}: ${fieldProblem(parsed.error.issues[0])}; trace the model again.`);
  return value as TraceRecord;
}
