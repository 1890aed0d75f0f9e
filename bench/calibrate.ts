// npm run calibrate: is "beats chance" calibrated? Two measurements where the answer is known:
// - null: two unrelated random checkpoints (synth, two seeds). Nothing concept-specific
//   differs, so a calibrated test flags about alpha of the concept × head tests;
// - planted: a checkpoint against a copy whose embedding rows were changed for tokens
//   that occur only inside the spans of some concepts. Those concepts should be found.
// Each is one compare over the shipped concepts, under every query set and sink mode.
import os from 'node:os';
import path from 'node:path';
import { loadConcepts } from '../lib/concepts/load-concepts.js';
import { writeJson } from '../lib/io/atomic.js';
import { compareCheckpoints, type CompareSummary } from '../lib/run-compare.js';
import { exclusiveTokens } from '../lib/synth/plant.js';
import { synthCheckpoint, type SynthOptions } from '../lib/synth/synth-checkpoint.js';
import { loadTokenizer } from '../lib/tokenize/tokenizer.js';
import { PACKAGE_ROOT } from '../lib/version.js';

const WORK = path.join(os.tmpdir(), 'legal-attn-calibration');
const CONCEPTS = path.join(PACKAGE_ROOT, 'concepts');
const SHAPE: SynthOptions = { layers: 4, heads: 8, kvHeads: 4, hidden: 128, vocab: 4096 };
const ALPHA = 0.05;
/** Each null pair is seed s against seed s + 1. */
const NULL_SEEDS = process.env.NULL_SEEDS ? process.env.NULL_SEEDS.split(",").map(Number) : [11, 13, 15];

interface Rates {
  /** Share of concept × head tests with p < alpha. */
  heads: number;
  /** Share of scopes (concepts, or sequences) whose count of heads beating chance has p < alpha. */
  concepts: number;
  /** Share of concept × head tests with BH q < alpha and with family-wise p < alpha. */
  q: number;
  family: number;
  tests: number;
}

type Variant = `${string}/${string}`;

type Level = 'concept' | 'sequence';

/** Rates among the tests of one level and one query set and sink mode, over runs, for the concepts `chosen` picks. */
function rates(summaries: readonly CompareSummary[], level: Level, variant: Variant, chosen: (concept: string) => boolean): Rates {
  const n = { tests: 0, heads: 0, q: 0, family: 0, scopes: 0, found: 0 };
  const scopes = summaries.flatMap((s) => (level === 'concept' ? s.comparison.scopes : s.comparison.sequences));
  for (const scope of scopes) {
    if (scope.scope === '*' || !chosen(scope.scope) || scope.variant.target !== 'concept' || `${scope.variant.querySet}/${scope.variant.sink}` !== variant) continue;
    const chance = scope.pairs[0]?.chance;
    if (!chance) continue;
    n.scopes++;
    n.found += chance.countPValue < ALPHA ? 1 : 0;
    chance.pValue.forEach((p, k) => {
      if (Number.isNaN(p)) return;
      n.tests++;
      n.heads += p < ALPHA ? 1 : 0;
      n.q += chance.qValue[k]! < ALPHA ? 1 : 0;
      n.family += chance.familyPValue[k]! < ALPHA ? 1 : 0;
    });
  }
  const share = (n: number, of: number): number => Number((n / (of || 1)).toFixed(3));
  return { heads: share(n.heads, n.tests), concepts: share(n.found, n.scopes), q: share(n.q, n.tests), family: share(n.family, n.tests), tests: n.tests };
}

/** The same rates for representation change: concept × state-layer tests, and concepts whose count of layers beating chance has p < alpha. */
function representationRates(summaries: readonly CompareSummary[], chosen: (concept: string) => boolean): { layers: number; concepts: number; tests: number } {
  const n = { tests: 0, layers: 0, scopes: 0, found: 0 };
  for (const summary of summaries) {
    const results = summary.representations;
    if (!results || 'skipped' in results) continue;
    for (const change of results.changes) {
      if (change.scope === '*' || !chosen(change.scope) || !change.pValue) continue;
      n.scopes++;
      n.found += (change.countPValue ?? 1) < ALPHA ? 1 : 0;
      for (const p of change.pValue) {
        if (!Number.isFinite(p)) continue;
        n.tests++;
        n.layers += p < ALPHA ? 1 : 0;
      }
    }
  }
  const share = (k: number, of: number): number => Number((k / (of || 1)).toFixed(3));
  return { layers: share(n.layers, n.tests), concepts: share(n.found, n.scopes), tests: n.tests };
}

async function main(): Promise<void> {
  const concepts = await loadConcepts(CONCEPTS);
  // Every third concept is chosen for the planted change on its concept tokens.
  const chosen = new Set(concepts.filter((_, k) => k % 3 === 0).map((c) => c.id));
  const tokenizer = await loadTokenizer(path.join(PACKAGE_ROOT, 'models', 'tiny-legal-base'));
  const { tokens, planted } = await exclusiveTokens(tokenizer, concepts, chosen);
  const synth = (seed: number): Promise<string> => synthCheckpoint(path.join(WORK, `seed-${seed}`), { ...SHAPE, seed });
  const a = await synth(1);
  const changed = await synthCheckpoint(path.join(WORK, 'seed-1-planted'), { ...SHAPE, seed: 1, plant: { tokens, scale: 0.5, seed: 7 } });
  const run = (after: string, before: string, out: string): Promise<CompareSummary> =>
    compareCheckpoints({
      models: [{ name: 'before', dir: before }, { name: 'after', dir: after }],
      concepts: CONCEPTS,
      out: path.join(WORK, out),
      force: true,
      cacheDir: path.join(WORK, 'cache'),
      querySets: ['all', 'after', 'outside'],
      sink: 'exclude',
    });
  // Three null pairs: six unrelated checkpoints, so that one pair's luck does not make the figure.
  const nullPairs: CompareSummary[] = [];
  for (const seed of NULL_SEEDS) nullPairs.push(await run(await synth(seed + 1), await synth(seed), `null-${seed}`));
  const plantedPair = [await run(changed, a, 'planted')];
  const variants: Variant[] = ['all/include', 'all/exclude', 'after/include', 'outside/include'];
  const levels: Level[] = ['concept', 'sequence'];
  const table = levels.flatMap((level) =>
    variants.map((variant) => ({
      level,
      variant,
      null: rates(nullPairs, level, variant, () => true),
      planted: rates(plantedPair, level, variant, (c) => planted.has(c)),
      others: rates(plantedPair, level, variant, (c) => !chosen.has(c)),
    })),
  );
  const header = ['level', 'query set / sink', 'null: heads p < α', 'null: BH q < α', 'null: max-T p < α', 'null: count p < α', 'planted: heads p < α', 'planted: count p < α', 'planted pair, other concepts: heads p < α', 'null tests'];
  process.stdout.write(`| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|\n`);
  for (const r of table) {
    const row = [r.level, r.variant, r.null.heads, r.null.q, r.null.family, r.null.concepts, r.planted.heads, r.planted.concepts, r.others.heads, r.null.tests];
    process.stdout.write(`| ${row.join(' | ')} |\n`);
  }
  const representations = { null: representationRates(nullPairs, () => true), planted: representationRates(plantedPair, (c) => planted.has(c)), others: representationRates(plantedPair, (c) => !chosen.has(c)) };
  process.stdout.write(
    `\nrepresentation change, concept × state-layer tests: null ${representations.null.layers} (count p < α: ${representations.null.concepts} of concepts; ${representations.null.tests} tests); planted ${representations.planted.layers} (${representations.planted.concepts} of planted concepts); planted pair, other concepts ${representations.others.layers}\n`,
  );
  process.stdout.write(`\nalpha ${ALPHA}; ${NULL_SEEDS.length} null pairs; ${planted.size} of ${concepts.length} concepts planted (${tokens.length} tokens found only in their spans; ${chosen.size - planted.size} more chosen had none); a calibrated test flags about ${ALPHA} of the null tests.\n`);
  const file = path.join(PACKAGE_ROOT, 'reports', 'calibration.json');
  await writeJson(file, { alpha: ALPHA, shape: SHAPE, planted: [...planted], plantedTokens: tokens.length, table, representations });
  process.stdout.write(`wrote ${file}\n`);
}

await main();
