import { createHash } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import { readJsonFile } from '../io/json-file.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import { TOOL_VERSION } from '../version.js';
import { type PlannedSequence, type TracedSequence } from '../plan/planned-sequence.js';
import { type MapsMode } from '../measure/maps-mode.js';

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
export function traceRecord(checkpoint: Checkpoint, planned: readonly PlannedSequence[], fields: Pick<TraceRecord, 'maps' | 'mapLayers' | 'blockRows' | 'chatTemplate'>): TraceRecord {
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
    inputsDigest: inputsDigest(planned),
    concepts: [...new Map(planned.flatMap((p) => (p.concept ? [[p.concept.id, p.concept] as const] : []))).values()].map(
      ({ id, name, area, source, components, structure }) => ({ id, name, area, ...(source ? { source } : {}), ...(components ? { components } : {}), ...(structure ? { structure } : {}) }),
    ),
    sequences: planned.map((p) => ({ dir: p.dir, tokens: p.aligned.ids.length, ...(p.concept ? { concept: p.concept.id, sequence: p.sequenceId } : {}) })),
  };
}

/** Identity of what was traced: every sequence's place, ids and spans. */
function inputsDigest(planned: readonly PlannedSequence[]): string {
  const hash = createHash('sha256');
  for (const p of planned) hash.update(JSON.stringify([p.dir, Array.from(p.aligned.ids, Number), p.aligned.spans]));
  return hash.digest('hex');
}

// What readers of trace.json rely on; the rest is recorded for people.
const traceFileSchema = z.object({
  model: z.object({ dir: z.string(), contentHash: z.string() }),
  maps: z.enum(['none', 'mean', 'full']),
  mapLayers: z.array(z.number().int()).optional(),
  blockRows: z.number().int().optional(),
  chatTemplate: z.boolean().optional(),
  concepts: z
    .array(z.object({ id: z.string(), name: z.string(), area: z.string(), source: z.string().optional(), components: z.array(z.string()).optional(), structure: z.array(z.tuple([z.string(), z.string()])).optional() }))
    .optional(),
  sequences: z.array(z.object({ dir: z.string(), concept: z.string().optional(), sequence: z.string().optional() })),
});

/** A trace.json as read back: what its readers rely on, checked. */
export type StoredTraceRecord = z.infer<typeof traceFileSchema>;

/** Reads and checks a trace.json; a file that is missing or not of this form is named. */
export const readTraceRecord = (folder: string): Promise<StoredTraceRecord> =>
  readJsonFile(path.join(folder, 'trace.json'), traceFileSchema, { missing: 'trace the model first (legal-attn trace or compare).', again: 'trace the model again.' });
