import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { z } from 'zod';
import { badInput } from '../errors.js';
import { fieldProblem } from '../io/field-problem.js';
import type { NegativeControlSummary } from '../compare/negative-controls.js';

/** The parts of summary.json the report reads. */
export interface Summary {
  tool: { name: string; version: string };
  definitions: Record<string, string>;
  options: { querySets: string[]; sinks: string[]; pairs: string[]; seed: number; controls: number; permutations: number; alpha: number; chatTemplate?: boolean };
  models: Array<{ name: string; dir: string; contentHash: string; layers: number; heads: number }>;
  concepts: Array<{
    id: string;
    name: string;
    area: string | null;
    source: string | null;
    sequences: string[];
    controlSequences?: string[];
    results: ScopeResult[];
    structure?: StructureSummary | null;
    wording?: WordingSummary[];
    robustness?: RobustnessSummary[];
  }>;
  overall: ScopeResult[];
  /** What the targets were judged against; absent in folders written before negative controls. */
  references?: { matchedOn: string[]; negativeControls: NegativeControlSummary[] };
  structure?: { concepts: string[]; tests: Record<string, StructureTestSummary | null> } | null;
  overallRobustness?: RobustnessSummary[];
  /** Absent in folders written before representations were measured. */
  representations?: RepresentationsSection;
}

// JSON writes NaN as null: every per-layer value may be missing.
const layerValues = z.array(z.number().nullable());
const probeSchema = z.object({ accuracy: z.number().nullable(), chance: z.number().nullable(), chance95: z.number().nullable().optional(), pValue: z.number().nullable().optional(), rows: z.number(), classes: z.number() });

const skippedSchema = z.object({ skipped: z.string() });
/** summary.json's measured `representations`: checked, since the report draws every array it holds. */
const measuredSchema = z.object({
  definitions: z.record(z.string(), z.string()),
  states: z.number().int(),
  hidden: z.number().int(),
  changes: z.array(
    z.object({
      scope: z.string(),
      pair: z.string(),
      concept: layerValues,
      control: layerValues,
      effect: layerValues.optional(),
      pValue: layerValues.optional(),
      layersBeatingChance: z.number().nullable().optional(),
      expectedByChance: z.number().nullable().optional(),
      countPValue: z.number().nullable().optional(),
      untested: z.string().optional(),
      overall: z.object({ concepts: z.number(), conceptsBeatingChance: z.number(), expectedByChance: z.number(), pValue: z.number() }).optional(),
    }),
  ),
  negativeControls: z.array(z.object({ pair: z.string(), sequences: z.number(), words: z.number(), countBelowAlpha: z.number() })).optional(),
  cka: z.array(z.object({ pair: z.string(), concepts: z.array(layerValues), tokens: z.array(layerValues) })),
  models: z.array(z.object({ model: z.string(), areaProbe: z.array(probeSchema), conceptProbe: z.array(probeSchema), paraphraseDistance: layerValues, structureGap: layerValues.optional() })),
});

export type RepresentationsSummary = z.infer<typeof measuredSchema>;
/** The representation measures, why they were not taken (`skipped`), or null when not asked for. */
export type RepresentationsSection = RepresentationsSummary | z.infer<typeof skippedSchema> | null;
export type RepresentationChangeSummary = RepresentationsSummary['changes'][number];
export type ProbeSummary = z.infer<typeof probeSchema>;

/** Whether a scope's conclusions for one pair hold under every span rule, query set and sink measured. */
export interface RobustnessSummary {
  pair: string;
  choices: Array<{ target: string; querySet: string; sink: string; meanDelta: number | null; found: boolean | null }>;
  direction: 'fell' | 'rose' | 'mixed' | 'unmeasured';
  beyondChance: 'every' | 'some' | 'none' | 'untested';
}

/** The distance-matched structure test: p is null when alpha is out of reach. */
export interface StructureTestSummary {
  statistic: number | null;
  pValue: number | null;
  smallestPossible: number;
  draws: number;
}

export interface StructureSummary {
  components: string[];
  edges: Array<[string, string]>;
  models: Record<string, { alignment: number | null; test: StructureTestSummary | null }>;
  changes: Record<string, { alignmentDelta: number | null; test: StructureTestSummary | null }>;
}

export interface WordingSummary {
  legal: string;
  plain: string;
  models: Record<string, { legal: number | null; plain: number | null; contrast: number | null }>;
  changes: Record<string, { contrastDelta: number | null }>;
}

export interface ChangeSummary {
  heads: number;
  meanDelta: number | null;
  medianDelta: number | null;
  skewness: number | null;
  skewnessAdjusted: number | null;
  kurtosis: number | null;
  kurtosisAdjusted: number | null;
  fractionRose: number | null;
  headsBeatingChance: number | null;
  expectedByChance: number | null;
  countPValue?: number | null;
  /** Overall: concepts beating chance, of how many, how many chance gives, and the binomial p. */
  conceptsBeatingChance?: number | null;
  concepts?: number;
  conceptsExpectedByChance?: number;
  conceptsPValue?: number | null;
  replication?: { meanDelta: { low: number | null; high: number | null } } | null;
  sd: number | null;
}

export interface ScopeResult {
  target: string;
  querySet: string;
  sink: string;
  sequences: string[];
  models: Record<string, { share: number | null; lift: number | null; entropy: number | null; rollout: number | null; sharePerLayer: Array<number | null> }>;
  changes: Record<string, ChangeSummary>;
}

export type Row = Record<string, string>;

export interface Results {
  dir: string;
  summary: Summary;
  shares: Row[];
  changes: Row[];
  layers: Row[];
}

async function readText(file: string, what: string): Promise<string> {
  return readFile(file, 'utf8').catch(() => {
    throw badInput(`${file}: not found; ${what}`);
  });
}

/** Reads what compare wrote into a results folder. */
export async function readResults(dir: string): Promise<Results> {
  const hint = 'pass a folder written by legal-attn compare.';
  const summaryFile = path.join(dir, 'summary.json');
  let summary: Summary;
  try {
    summary = JSON.parse(await readText(summaryFile, hint)) as Summary;
  } catch (error) {
    if (error instanceof SyntaxError) throw badInput(`${summaryFile}: not valid JSON (${error.message}); run legal-attn compare again.`);
    throw error;
  }
  if (summary.representations !== undefined) {
    // Chosen by form rather than as a union, so that a fault names the field inside.
    const value: unknown = summary.representations;
    const schema = value === null ? z.null() : typeof value === 'object' && 'skipped' in value ? skippedSchema : measuredSchema;
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw badInput(`${summaryFile}: ${fieldProblem(issue, ['representations', ...(issue?.path ?? [])])}; run legal-attn compare again.`);
    }
    summary.representations = parsed.data;
  }
  const csv = async (name: string): Promise<Row[]> => parse<Row>(await readText(path.join(dir, name), hint), { columns: true });
  return { dir, summary, shares: await csv('shares.csv'), changes: await csv('changes.csv'), layers: await csv('layers.csv') };
}
