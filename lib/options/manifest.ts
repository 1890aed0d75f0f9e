import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { badInput } from '../errors.js';
import { parseYamlFile } from '../io/yaml-file.js';
import { OPTIONS, optionFields, type OptionName } from './option-table.js';
import { RUN_OPTIONS, runOptionsOf, type RunOptions } from './run-options.js';

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a name of letters, digits, dots, dashes or underscores');

/**
 * The declared options a run (or the manifest's defaults) may set: a run's options but
 * its pairs (a list of its own here) and the batch size (one for the whole batch), and
 * whether to write the report.
 */
const MANIFEST_OPTIONS: readonly OptionName[] = [...RUN_OPTIONS.filter((name) => name !== 'pairs' && name !== 'batchSize'), 'report'];
const analysisFields = optionFields(MANIFEST_OPTIONS);

const analysisSchema = z.object(analysisFields).strict();

const runSchema = z
  .object({
    name,
    models: z.array(name).min(2, 'must name at least two models'),
    concepts: z.string().min(1),
    out: z.string().min(1),
    pairs: z.array(z.string().regex(/^[^:,\s]+:[^:,\s]+$/, 'must be AFTER:BEFORE')).min(1).optional(),
    ...analysisFields,
  })
  .strict();

const manifestSchema = z
  .object({
    models: z.record(name, z.string().min(1)),
    defaults: analysisSchema.optional(),
    runs: z.array(runSchema).min(1, 'must list at least one run'),
  })
  .strict();

/** A run's options as compare takes them (its pairs are its own field), and whether to write the report. */
export type RunAnalysis = Omit<RunOptions, 'pairs' | 'onProgress' | 'batchSize'> & { report?: boolean };

/** One run of a manifest, resolved: model folders and paths absolute, defaults applied. */
export interface BatchRun extends RunAnalysis {
  index: number;
  name: string;
  models: Array<{ name: string; dir: string }>;
  concepts: string;
  /** Output folder, relative to the batch root. */
  out: string;
  pairs?: string;
  line: number;
}

export interface Manifest {
  file: string;
  dir: string;
  runs: BatchRun[];
}

const HELP = 'see "legal-attn batch" in the README, and examples/, for the manifest format.';

function analysisOf(fields: Record<string, unknown>): RunAnalysis {
  const values: Partial<Record<OptionName, unknown>> = {};
  for (const name of MANIFEST_OPTIONS) if (fields[OPTIONS[name].key] !== undefined) values[name] = fields[OPTIONS[name].key];
  return { ...runOptionsOf(values), ...(values.report !== undefined ? { report: values.report as boolean } : {}) };
}

/** Reads and checks a whole manifest (names, references, clashing outputs) before anything runs. */
export async function loadManifest(file: string): Promise<Manifest> {
  const source = await readFile(file, 'utf8').catch(() => {
    throw badInput(`${file}: no such manifest; pass a batch manifest YAML file.`);
  });
  const { data, lineAt } = parseYamlFile(source, file, manifestSchema, HELP);
  const dir = path.dirname(path.resolve(file));
  const names = new Set<string>();
  const outs = new Map<string, string>();
  const runs = data.runs.map((run, index): BatchRun => {
    const line = lineAt(['runs', index]);
    if (names.has(run.name)) throw badInput(`${file}:${lineAt(['runs', index, 'name'])}: run name ${run.name} is used twice; give each run its own name.`);
    names.add(run.name);
    run.models.forEach((model, k) => {
      if (!(model in data.models)) throw badInput(`${file}:${lineAt(['runs', index, 'models', k])}: run ${run.name} names model ${model}, which is not under models (${Object.keys(data.models).join(', ')}).`);
    });
    const out = path.normalize(run.out);
    if (path.isAbsolute(out) || out.startsWith('..')) throw badInput(`${file}:${lineAt(['runs', index, 'out'])}: out ${run.out} must be a folder inside the batch root, written relative to it.`);
    const clash = outs.get(out);
    if (clash) throw badInput(`${file}:${lineAt(['runs', index, 'out'])}: runs ${clash} and ${run.name} both write to ${run.out}; give each run its own out folder.`);
    outs.set(out, run.name);
    for (const [k, pair] of (run.pairs ?? []).entries()) {
      for (const model of pair.split(':')) {
        if (!run.models.includes(model)) throw badInput(`${file}:${lineAt(['runs', index, 'pairs', k])}: pair ${pair} of run ${run.name} names ${model}, which is not one of its models.`);
      }
    }
    const resolved: BatchRun = {
      ...analysisOf(data.defaults ?? {}),
      ...analysisOf(run),
      index,
      name: run.name,
      models: run.models.map((model) => ({ name: model, dir: path.resolve(dir, data.models[model]!) })),
      concepts: path.resolve(dir, run.concepts),
      out,
      line,
    };
    if (run.pairs) resolved.pairs = run.pairs.join(',');
    return resolved;
  });
  return { file, dir, runs };
}

/** Parses `--shard K/N`. */
export function parseShard(text: string): { index: number; count: number } {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (!match || count < 1 || index < 1 || index > count) throw badInput(`--shard ${text}: write K/N with 1 ≤ K ≤ N, for example --shard 2/4 for the second of four slices.`);
  return { index, count };
}

/** The runs of slice K of N: every N-th run, starting with the K-th. */
export const shardRuns = (runs: readonly BatchRun[], shard: { index: number; count: number }): BatchRun[] =>
  runs.filter((run) => run.index % shard.count === shard.index - 1);
