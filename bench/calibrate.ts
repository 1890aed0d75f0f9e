// npm run calibrate: is "beats chance" calibrated? Two measurements where the answer is known:
// - null: two unrelated random checkpoints (synth, two seeds). Nothing concept-specific
//   differs, so a calibrated test flags about alpha of the concept × head tests;
// - planted: a checkpoint against a copy whose embedding rows of the tokens of some
//   concepts only were changed. The planted concepts' tests should be flagged (power).
// Each is one compare over the shipped concepts (query set all, sink included).
import os from 'node:os';
import path from 'node:path';
import { loadConcepts } from '../lib/concepts/load-concepts.js';
import { writeJson } from '../lib/io/atomic.js';
import { compareCheckpoints, type CompareSummary } from '../lib/run-compare.js';
import { synthCheckpoint, type SynthOptions } from '../lib/synth/synth-checkpoint.js';
import { loadTokenizer, tokenizeSequence } from '../lib/tokenize/tokenizer.js';
import { PACKAGE_ROOT } from '../lib/version.js';

const WORK = path.join(os.tmpdir(), 'legal-attn-calibration');
const CONCEPTS = path.join(PACKAGE_ROOT, 'concepts');
const SHAPE: SynthOptions = { layers: 4, heads: 8, kvHeads: 4, hidden: 128, vocab: 4096 };
const ALPHA = 0.05;

/** p < alpha among the concept-level tests (each concept × head), split by whether the concept was planted. */
function rates(summary: CompareSummary, planted: ReadonlySet<string>): { planted: number; others: number; tests: number } {
  const counts = { planted: [0, 0], others: [0, 0] };
  for (const scope of summary.comparison.scopes) {
    if (scope.scope === '*' || scope.variant.target !== 'concept' || scope.variant.querySet !== 'all' || scope.variant.sink !== 'include') continue;
    const p = scope.pairs[0]?.pValue;
    if (!p) continue;
    const into = planted.has(scope.scope) ? counts.planted : counts.others;
    for (const value of p) {
      if (Number.isNaN(value)) continue;
      into[0]! += value < ALPHA ? 1 : 0;
      into[1]! += 1;
    }
  }
  return { planted: counts.planted[0]! / (counts.planted[1]! || 1), others: counts.others[0]! / (counts.others[1]! || 1), tests: counts.planted[1]! + counts.others[1]! };
}

async function main(): Promise<void> {
  const concepts = await loadConcepts(CONCEPTS);
  // Every third concept gets the planted change on its concept tokens.
  const plantedConcepts = new Set(concepts.filter((_, k) => k % 3 === 0).map((c) => c.id));
  const tokenizer = await loadTokenizer(path.join(PACKAGE_ROOT, 'models', 'tiny-legal-base'));
  const tokens = new Set<number>();
  for (const concept of concepts.filter((c) => plantedConcepts.has(c.id))) {
    for (const sequence of concept.sequences) {
      const aligned = await tokenizeSequence(tokenizer, sequence.text, sequence.spans, sequence.id);
      for (const span of aligned.spans) for (const t of span.tokens) tokens.add(Number(aligned.ids[t]));
    }
  }
  const a = await synthCheckpoint(path.join(WORK, 'seed-1'), { ...SHAPE, seed: 1 });
  const b = await synthCheckpoint(path.join(WORK, 'seed-2'), { ...SHAPE, seed: 2 });
  const changed = await synthCheckpoint(path.join(WORK, 'seed-1-planted'), { ...SHAPE, seed: 1, plant: { tokens: [...tokens], scale: 0.5, seed: 7 } });
  const run = (after: string, before: string, out: string): Promise<CompareSummary> =>
    compareCheckpoints({ models: [{ name: 'before', dir: before }, { name: 'after', dir: after }], concepts: CONCEPTS, out: path.join(WORK, out), force: true, cacheDir: path.join(WORK, 'cache') });
  const nullRates = rates(await run(b, a, 'null'), new Set());
  const plantedRates = rates(await run(changed, a, 'planted'), plantedConcepts);
  const rows = [
    ['design', 'null pair: p < 0.05', 'planted pair: planted concepts', 'planted pair: other concepts', 'tests'],
    ['width-matched controls in the same sequence (today)', nullRates.others.toFixed(3), plantedRates.planted.toFixed(3), plantedRates.others.toFixed(3), String(nullRates.tests)],
  ];
  for (const row of rows) process.stdout.write(`| ${row.join(' | ')} |\n`);
  process.stdout.write(`\nalpha ${ALPHA}; ${plantedConcepts.size} of ${concepts.length} concepts planted (${tokens.size} tokens); a calibrated test flags about ${ALPHA} of the null tests.\n`);
  const file = path.join(PACKAGE_ROOT, 'reports', 'calibration.json');
  await writeJson(file, { alpha: ALPHA, shape: SHAPE, planted: [...plantedConcepts], null: nullRates, plantedPair: plantedRates });
  process.stdout.write(`wrote ${file}\n`);
}

await main();
