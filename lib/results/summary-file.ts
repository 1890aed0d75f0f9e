import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { z } from 'zod';
import { badInput } from '../errors.js';
import { fieldProblem } from '../io/field-problem.js';
import { readJsonFile } from '../io/json-file.js';

// JSON writes NaN as null: every per-layer value may be missing.
const layerValues = z.array(z.number().nullable());
const probeSchema = z.object({ accuracy: z.number().nullable(), chance: z.number().nullable(), chance95: z.number().nullable().optional(), pValue: z.number().nullable().optional(), rows: z.number(), classes: z.number() });

const skippedSchema = z.object({ skipped: z.string() });
/** A change judged against its controls, as representations and knockout write it. */
const judgedChange = {
  concept: layerValues,
  control: layerValues,
  effect: layerValues.optional(),
  pValue: layerValues.optional(),
  layersBeatingChance: z.number().nullable().optional(),
  expectedByChance: z.number().nullable().optional(),
  countPValue: z.number().nullable().optional(),
  untested: z.string().optional(),
  overall: z.object({ concepts: z.number(), conceptsBeatingChance: z.number(), expectedByChance: z.number(), pValue: z.number() }).optional(),
};

/** summary.json's measured `representations`: checked, since the report draws every array it holds. */
const measuredSchema = z.object({
  definitions: z.record(z.string(), z.string()),
  states: z.number().int(),
  hidden: z.number().int(),
  changes: z.array(
    z.object({
      scope: z.string(),
      pair: z.string(),
      ...judgedChange,
    }),
  ),
  negativeControls: z.array(z.object({ pair: z.string(), sequences: z.number(), words: z.number(), countBelowAlpha: z.number() })).optional(),
  cka: z.array(z.object({ pair: z.string(), concepts: z.array(layerValues), tokens: z.array(layerValues) })),
  models: z.array(z.object({ model: z.string(), areaProbe: z.array(probeSchema), conceptProbe: z.array(probeSchema), paraphraseDistance: layerValues, structureGap: layerValues.optional() })),
});

/** summary.json's `knockout` (compare --knockout): checked, since a later report draws its arrays. */
const knockoutSchema = z.object({
  definitions: z.record(z.string(), z.string()),
  layerSets: z.array(z.union([z.literal('all'), z.number().int()])),
  rowsPerSequence: z.number().int(),
  changes: z.array(
    z.object({
      measure: z.enum(['loglik', 'state']),
      scope: z.string(),
      model: z.string(),
      ...judgedChange,
    }),
  ),
  negativeControls: z.array(z.object({ measure: z.enum(['loglik', 'state']), model: z.string(), sequences: z.number(), words: z.number(), countBelowAlpha: z.number() })),
});
export type KnockoutSummary = z.infer<typeof knockoutSchema>;
/** The knockout measures, why they were not taken (`skipped`), or null when not asked for. */
export type KnockoutSection = KnockoutSummary | z.infer<typeof skippedSchema> | null;
export type KnockoutChangeSummary = KnockoutSummary['changes'][number];
export type RepresentationsSummary = z.infer<typeof measuredSchema>;
/** The representation measures, why they were not taken (`skipped`), or null when not asked for. */
export type RepresentationsSection = RepresentationsSummary | z.infer<typeof skippedSchema> | null;
export type RepresentationChangeSummary = RepresentationsSummary['changes'][number];
export type ProbeSummary = z.infer<typeof probeSchema>;

const nullable = z.number().nullable();

/** Whether a scope's conclusions for one pair hold under every span rule, query set and sink measured. */
const robustnessSchema = z.object({
  pair: z.string(),
  choices: z.array(z.object({ target: z.string(), querySet: z.string(), sink: z.string(), meanDelta: nullable, found: z.boolean().nullable() })),
  direction: z.enum(['fell', 'rose', 'mixed', 'unmeasured']),
  beyondChance: z.enum(['every', 'some', 'none', 'untested']),
});

/** The distance-matched structure test: p is null when alpha is out of reach. */
const structureTestSchema = z.object({ statistic: nullable, pValue: nullable, smallestPossible: z.number(), draws: z.number() });

const structureSchema = z.object({
  components: z.array(z.string()),
  edges: z.array(z.tuple([z.string(), z.string()])),
  models: z.record(z.string(), z.object({ alignment: nullable, test: structureTestSchema.nullable() })),
  changes: z.record(z.string(), z.object({ alignmentDelta: nullable, test: structureTestSchema.nullable() })),
});

const wordingSchema = z.object({
  legal: z.string(),
  plain: z.string(),
  models: z.record(z.string(), z.object({ legal: nullable, plain: nullable, contrast: nullable })),
  changes: z.record(z.string(), z.object({ contrastDelta: nullable })),
});

const changeSchema = z.object({
  heads: z.number(),
  meanDelta: nullable,
  medianDelta: nullable,
  skewness: nullable,
  skewnessAdjusted: nullable,
  kurtosis: nullable,
  kurtosisAdjusted: nullable,
  fractionRose: nullable,
  headsBeatingChance: nullable,
  expectedByChance: nullable,
  countPValue: nullable.optional(),
  // overall: concepts beating chance, of how many, how many chance gives, and the binomial p
  conceptsBeatingChance: nullable.optional(),
  concepts: z.number().optional(),
  conceptsExpectedByChance: z.number().optional(),
  conceptsPValue: nullable.optional(),
  replication: z.object({ meanDelta: z.object({ low: nullable, high: nullable }) }).nullable().optional(),
  sd: nullable,
});

const scopeSchema = z.object({
  target: z.string(),
  querySet: z.string(),
  sink: z.string(),
  /** Absent: `attention`. */
  lens: z.string().optional(),
  sequences: z.array(z.string()),
  models: z.record(z.string(), z.object({ share: nullable, lift: nullable, entropy: nullable, rollout: nullable, sharePerLayer: z.array(nullable) })),
  changes: z.record(z.string(), changeSchema),
});

const negativeControlSchema = z.object({ querySet: z.string().optional(), sink: z.string().optional(), lens: z.string().optional(), pair: z.string(), sequences: z.number(), words: z.number(), countBelowAlpha: z.number() });

/** The parts of summary.json the report reads, checked: the report draws every one of them. */
const summarySchema = z.object({
  tool: z.object({ name: z.string(), version: z.string() }),
  definitions: z.record(z.string(), z.string()),
  options: z.object({ querySets: z.array(z.string()), sinks: z.array(z.string()), pairs: z.array(z.string()), seed: z.number(), controls: z.number(), permutations: z.number(), alpha: z.number(), chatTemplate: z.boolean().optional(), valueWeighted: z.string().optional() }),
  models: z.array(z.object({ name: z.string(), dir: z.string(), contentHash: z.string(), layers: z.number(), heads: z.number() })),
  concepts: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      area: z.string().nullable(),
      source: z.string().nullable(),
      sequences: z.array(z.string()),
      controlSequences: z.array(z.string()).optional(),
      results: z.array(scopeSchema),
      structure: structureSchema.nullable().optional(),
      wording: z.array(wordingSchema).optional(),
      robustness: z.array(robustnessSchema).optional(),
    }),
  ),
  overall: z.array(scopeSchema),
  // what the targets were judged against; absent in folders written before negative controls
  references: z.object({ matchedOn: z.array(z.string()), negativeControls: z.array(negativeControlSchema) }).optional(),
  structure: z.object({ concepts: z.array(z.string()), tests: z.record(z.string(), structureTestSchema.nullable()) }).nullable().optional(),
  overallRobustness: z.array(robustnessSchema).optional(),
  // checked by its own form below, so that a fault names the field inside; absent in folders written before representations
  representations: z.unknown().optional(),
  // checked by its own form below, like representations; absent in folders written before knockout
  knockout: z.unknown().optional(),
});

export type Summary = Omit<z.infer<typeof summarySchema>, 'representations' | 'knockout'> & { representations?: RepresentationsSection; knockout?: KnockoutSection };
export type RobustnessSummary = z.infer<typeof robustnessSchema>;
export type StructureTestSummary = z.infer<typeof structureTestSchema>;
export type ChangeSummary = z.infer<typeof changeSchema>;
export type ScopeResult = z.infer<typeof scopeSchema>;

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
  const read = await readJsonFile(summaryFile, summarySchema, { missing: hint, again: 'run legal-attn compare again.' });
  const summary: Summary = { ...read, representations: sectionOf(read.representations, measuredSchema, 'representations', summaryFile), knockout: sectionOf(read.knockout, knockoutSchema, 'knockout', summaryFile) };
  if (read.representations === undefined) delete summary.representations;
  if (read.knockout === undefined) delete summary.knockout;
  const csv = async (name: string): Promise<Row[]> => parse<Row>(await readText(path.join(dir, name), hint), { columns: true });
  return { dir, summary, shares: await csv('shares.csv'), changes: await csv('changes.csv'), layers: await csv('layers.csv') };
}

/** A section of summary.json that is measured or `skipped`, chosen by form rather than as a union, so that a fault names the field inside. */
function sectionOf<T>(value: unknown, measured: z.ZodType<T>, field: string, summaryFile: string): T | z.infer<typeof skippedSchema> | null {
  if (value === undefined || value === null) return null;
  const parsed = typeof value === 'object' && 'skipped' in value ? skippedSchema.safeParse(value) : measured.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw badInput(`${summaryFile}: ${fieldProblem(issue, [field, ...(issue?.path ?? [])])}; run legal-attn compare again.`);
  }
  return parsed.data;
}
