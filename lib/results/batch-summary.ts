import path from 'node:path';
import { z } from 'zod';
import { readJsonFile } from '../io/json-file.js';

const runResultSchema = z.object({
  index: z.number().int(),
  name: z.string(),
  out: z.string(),
  /** ran: the run was executed (its traces made now or read from the trace cache); failed: see reason. A batch reuses no run's outputs, so no run is skipped. */
  status: z.enum(['ran', 'failed']),
  reason: z.string().optional(),
  seconds: z.number(),
  /** Sequences this run had run through a model now (the rest of its passes came from the trace cache). */
  traced: z.number().int().optional(),
});

/** batch-summary.json: what a batch (or one slice of it) did, run by run. */
const batchSummarySchema = z.object({
  manifest: z.string(),
  shard: z.object({ index: z.number().int(), count: z.number().int() }).nullable(),
  root: z.string(),
  runs: z.array(runResultSchema),
  ran: z.number().int(),
  failed: z.number().int(),
  /** Sequences run through a model in this invocation (the rest came from the trace cache). */
  traced: z.number().int(),
  seconds: z.number(),
});

export type RunResult = z.infer<typeof runResultSchema>;
export type BatchSummary = z.infer<typeof batchSummarySchema>;

export const batchSummaryFile = (root: string): string => path.join(root, 'batch-summary.json');

/** Reads and checks the batch-summary.json of a batch root. */
export const readBatchSummary = (root: string): Promise<BatchSummary> =>
  readJsonFile(batchSummaryFile(root), batchSummarySchema, { missing: 'pass folders written by legal-attn batch (with --out-root).', again: 'run that slice of the batch again.' });
