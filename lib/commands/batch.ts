import { cp, stat } from 'node:fs/promises';
import path from 'node:path';
import { badInput, LegalAttnError } from '../errors.js';
import { writeFolderWhole, writeJson } from '../io/atomic.js';
import { writeReport } from '../report/build-report.js';
import { runPreparedCompare } from './compare.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import type { Device } from '../runtime/session.js';
import { traceAttentionCached } from '../runtime/passes.js';
import { loadManifest, parseShard, shardRuns, type BatchRun } from '../options/manifest.js';
import { batchSummaryFile, readBatchSummary, type BatchSummary, type RunResult } from '../results/batch-summary.js';
import { prepareCompare, type PreparedCompare } from '../plan/compare-plan.js';
import { type CompareRequest } from '../options/run-options.js';

export type { BatchSummary } from '../results/batch-summary.js';

export interface BatchRequest {
  manifest: string;
  /** `K/N`: only the K-th of N slices of the runs. */
  shard?: string;
  /** Where run outputs go (default: the manifest's folder). */
  outRoot?: string;
  failFast?: boolean;
  cacheDir?: string;
  threads?: number;
  batchSize?: number;
  /** For runs that name none. */
  device?: Device;
  onProgress?: (stage: string, done: number, total: number) => void;
  /** What the batch is doing, run by run: for a line on stderr from its first second. */
  onRun?: (event: BatchEvent) => void;
}

/** The batch checks its runs, a run starts, a run ends. */
export type BatchEvent = { kind: 'checking'; runs: number; manifest: string } | { kind: 'started'; run: string; at: number; of: number } | { kind: 'ended'; result: RunResult; at: number; of: number };

const seconds = (start: number): number => Math.round((performance.now() - start) / 10) / 100;

/** A run checked and ready, or the reason it cannot run. */
type Prepared = { run: BatchRun; compare: PreparedCompare; failure?: undefined } | { run: BatchRun; compare?: undefined; failure: string };

const reasonOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** One pass of a checkpoint, on one device, over every sequence some runs need, and which runs need each. */
export interface SharedPass {
  checkpoint: Checkpoint;
  device?: Device;
  needs: Array<{ ids: BigInt64Array; runs: Set<number> }>;
  runs: Set<number>;
}

/**
 * The passes the runs measured from full maps share: one per checkpoint and device (each
 * run's own, so that a run on CUDA is not traced on the CPU), over every sequence any of
 * them needs, each sequence once.
 */
export function sharedPasses(prepared: ReadonlyArray<{ run: BatchRun; compare: PreparedCompare }>): SharedPass[] {
  const passes = new Map<string, { pass: SharedPass; needs: Map<string, { ids: BigInt64Array; runs: Set<number> }> }>();
  for (const { run, compare } of prepared) {
    const device = compare.request.device;
    for (const { checkpoint } of compare.checkpoints) {
      const key = `${checkpoint.contentHash}|${device ?? 'cpu'}`;
      const entry = passes.get(key) ?? { pass: { checkpoint, ...(device ? { device } : {}), needs: [], runs: new Set<number>() }, needs: new Map<string, { ids: BigInt64Array; runs: Set<number> }>() };
      passes.set(key, entry);
      entry.pass.runs.add(run.index);
      for (const { aligned } of compare.planned) {
        const id = aligned.ids.join(',');
        const need = entry.needs.get(id) ?? { ids: aligned.ids, runs: new Set<number>() };
        need.runs.add(run.index);
        entry.needs.set(id, need);
      }
    }
  }
  return [...passes.values()].map(({ pass, needs }) => ({ ...pass, needs: [...needs.values()] }));
}

/**
 * For the runs measured from full maps: runs their shared passes, loading each model once,
 * so that the runs take their maps from the trace cache. Returns how many sequences of
 * each run were traced now, and the runs whose model failed (with the reason); the other runs
 * are not held back by them.
 */
async function traceFullMapsOnce(prepared: ReadonlyArray<{ run: BatchRun; compare: PreparedCompare }>, request: BatchRequest): Promise<{ traced: number; fresh: Map<number, number>; failed: Map<number, string> }> {
  let traced = 0;
  // sequences traced now, by run
  const fresh = new Map<number, number>();
  const failed = new Map<number, string>();
  for (const { checkpoint, device, needs, runs } of sharedPasses(prepared)) {
    const options = {
      ...(request.threads ? { threads: request.threads } : {}),
      ...(request.batchSize ? { batchSize: request.batchSize } : {}),
      ...(device ? { device } : {}),
      onProgress: (done: number, total: number) => request.onProgress?.(`tracing ${checkpoint.name}`, done, total),
    };
    try {
      for await (const { index, cached } of traceAttentionCached(checkpoint, needs.map((n) => n.ids), options)) {
        if (cached) continue;
        traced++;
        needs[index]!.runs.forEach((r) => fresh.set(r, (fresh.get(r) ?? 0) + 1));
      }
    } catch (error) {
      if (request.failFast) throw error;
      for (const r of runs) failed.set(r, reasonOf(error));
    }
  }
  return { traced, fresh, failed };
}

/** Every option of a run as compare takes it; `maps` defaults to measuring inside the graph, as compare does, and the batch's device, threads and batch size apply. */
function compareRequestOf(run: BatchRun, root: string, request: BatchRequest): CompareRequest {
  const { report: _report, index: _index, name: _name, line: _line, ...options } = run;
  return {
    ...options,
    out: path.join(root, run.out),
    maps: run.maps ?? 'mean',
    ...(run.device ?? request.device ? { device: run.device ?? request.device } : {}),
    ...(request.threads ?? run.threads ? { threads: request.threads ?? run.threads } : {}),
    ...(request.cacheDir ? { cacheDir: request.cacheDir } : {}),
    // One sequence per pass unless asked: a padded pass rounds differently in the last
    // digit, and a resumed batch regroups what is left, so only unbatched passes make a
    // resumed batch end with the bytes of an uninterrupted one.
    batchSize: request.batchSize ?? 1,
    ...(request.onProgress ? { onProgress: request.onProgress } : {}),
  };
}

/**
 * `batch`: the runs of a manifest (or of one slice of it). The manifest is read and
 * every run checked (models, concepts, checkpoints, tokenizers) before any model is
 * loaded. Runs measure inside the graph by default, one model at a time, each pass kept
 * in the trace cache so that an interrupted batch resumes; runs with `maps: full` share
 * one pass per model. A run that cannot be checked or fails is reported with its reason
 * and the others go on, unless `failFast`; batch-summary.json is written in any case.
 */
export async function runBatch(request: BatchRequest): Promise<BatchSummary> {
  const start = performance.now();
  const manifest = await loadManifest(request.manifest);
  const shard = request.shard ? parseShard(request.shard) : null;
  const runs = shard ? shardRuns(manifest.runs, shard) : manifest.runs;
  const root = path.resolve(request.outRoot ?? manifest.dir);
  request.onRun?.({ kind: 'checking', runs: runs.length, manifest: manifest.file });

  const prepared: Prepared[] = [];
  for (const run of runs) {
    try {
      prepared.push({ run, compare: await prepareCompare(compareRequestOf(run, root, request)) });
    } catch (error) {
      const located = error instanceof LegalAttnError ? badInput(`${manifest.file}:${run.line}: run ${run.name}: ${error.message}`, error) : error;
      if (request.failFast) throw located;
      prepared.push({ run, failure: reasonOf(located) });
    }
  }
  const ready = prepared.filter((p): p is Prepared & { compare: PreparedCompare } => p.compare !== undefined);
  const full = await traceFullMapsOnce(
    ready.filter((p) => p.compare.maps === 'full'),
    request,
  );

  const results: RunResult[] = [];
  let traced = full.traced;
  for (const [k, { run, compare, failure }] of prepared.entries()) {
    const runStart = performance.now();
    const at = { at: k + 1, of: prepared.length };
    const ended = (result: RunResult): void => {
      results.push(result);
      request.onRun?.({ kind: 'ended', result, ...at });
    };
    const failed = (reason: string): void => ended({ index: run.index, name: run.name, out: run.out, status: 'failed', reason, seconds: seconds(runStart) });
    if (!compare) {
      failed(failure);
      continue;
    }
    if (full.failed.has(run.index)) {
      failed(full.failed.get(run.index)!);
      continue;
    }
    request.onRun?.({ kind: 'started', run: run.name, ...at });
    try {
      const summary = await runPreparedCompare(compare);
      traced += summary.computed;
      if (run.report !== false) await writeReport(compare.request.out);
      ended({ index: run.index, name: run.name, out: run.out, status: 'ran', seconds: seconds(runStart), traced: summary.computed + (full.fresh.get(run.index) ?? 0) });
    } catch (error) {
      if (request.failFast) throw error;
      failed(reasonOf(error));
    }
  }
  results.sort((a, b) => a.index - b.index);
  const summary: BatchSummary = {
    manifest: path.resolve(manifest.file),
    shard,
    root,
    runs: results,
    ran: results.filter((r) => r.status === 'ran').length,
    failed: results.filter((r) => r.status === 'failed').length,
    traced,
    seconds: seconds(start),
  };
  await writeJson(batchSummaryFile(root), summary);
  return summary;
}

/**
 * `merge`: joins the results of a manifest's slices (each a batch root written with
 * `--shard K/N`) into one root, as a single machine would have written it.
 */
export async function mergeBatches(roots: readonly string[], out: string): Promise<BatchSummary> {
  if (roots.length === 0) throw badInput('merge needs at least one batch folder written with --shard.');
  const summaries: BatchSummary[] = [];
  for (const root of roots) {
    summaries.push(await readBatchSummary(root));
  }
  const manifests = new Set(summaries.map((s) => s.manifest));
  if (manifests.size > 1) throw badInput(`the folders come from different manifests (${[...manifests].join(', ')}); merge slices of one manifest.`);
  checkSlices(summaries, roots);
  const target = path.resolve(out);
  // Everything is checked before anything is written; the merged folder then appears whole.
  const copies: Array<{ from: string; to: string }> = [];
  const runs: RunResult[] = [];
  const seen = new Map<string, string>();
  for (const [k, summary] of summaries.entries()) {
    for (const run of summary.runs) {
      const other = seen.get(run.name);
      if (other) throw badInput(`run ${run.name} is in both ${other} and ${roots[k]}; merge each slice once.`);
      seen.set(run.name, roots[k]!);
      if (run.status !== 'failed') {
        const from = path.join(roots[k]!, run.out);
        if (!(await stat(from).catch(() => undefined))) throw badInput(`${from}: missing; the slice's results are incomplete.`);
        copies.push({ from, to: run.out });
      }
      runs.push(run);
    }
  }
  runs.sort((a, b) => a.index - b.index);
  const merged: BatchSummary = {
    manifest: summaries[0]!.manifest,
    shard: null,
    root: target,
    runs,
    ran: runs.filter((r) => r.status === 'ran').length,
    failed: runs.filter((r) => r.status === 'failed').length,
    traced: summaries.reduce((n, s) => n + s.traced, 0),
    seconds: summaries.reduce((n, s) => Math.max(n, s.seconds), 0),
  };
  await writeFolderWhole(target, async (staging) => {
    for (const { from, to } of copies) await cp(from, path.join(staging, to), { recursive: true });
    await writeJson(path.join(staging, 'batch-summary.json'), merged);
  });
  return merged;
}

/** Every slice K of N, once each: a merge of some slices would look like the whole study. */
function checkSlices(summaries: readonly BatchSummary[], roots: readonly string[]): void {
  const counts = new Set(summaries.map((s) => s.shard?.count ?? 0));
  if (counts.has(0)) throw badInput(`${roots[summaries.findIndex((s) => !s.shard)]}: not a slice (written without --shard); merge the folders of one --shard K/N run each.`);
  if (counts.size > 1) throw badInput(`the slices were cut differently (--shard K/${[...counts].join(', K/')}); merge the slices of one cut.`);
  const [count = 0] = counts;
  const byIndex = new Map<number, string>();
  summaries.forEach((s, k) => {
    const other = byIndex.get(s.shard!.index);
    if (other) throw badInput(`slice ${s.shard!.index}/${count} is both ${other} and ${roots[k]}; merge each slice once.`);
    byIndex.set(s.shard!.index, roots[k]!);
  });
  const missing = Array.from({ length: count }, (_, k) => k + 1).filter((index) => !byIndex.has(index));
  if (missing.length > 0) throw badInput(`slice${missing.length > 1 ? 's' : ''} ${missing.map((index) => `${index}/${count}`).join(', ')} missing; pass every slice's --out-root, once each.`);
}
