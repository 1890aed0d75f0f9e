// npm run calibrate: does "beats chance" hold under realistic nulls? Measurements where the answer is known:
// - null: the shipped tiny base against copies of itself that differ by nothing concept-specific:
//   Gaussian noise on every weight matrix (sd = s × the tensor's own sd, s = 0.02 and 0.1, three
//   seeds each), and its twin from the other PyTorch exporter (float rounding only). A calibrated
//   test flags about alpha of the concept × head tests, at every alpha;
// - planted: base against a noisy copy (s = 0.02) whose embedding rows were also changed for tokens
//   found only in the terms of some concepts. Those concepts should be found, the others not.
// Each family is tabled: attention and the value-weighted share under each query set and sink,
// representations, and knockout (every layer; CALIBRATION_KNOCKOUT=0 leaves it out).
// Every figure comes from one compare per pair, as a user runs it.
import os from 'node:os';
import path from 'node:path';
import { loadConcepts } from '../lib/concepts/load-concepts.js';
import { writeJson } from '../lib/io/atomic.js';
import { measuredRepresentations } from '../lib/results/comparison-files.js';
import { compareCheckpoints, type CompareSummary } from '../lib/commands/compare.js';
import { perturbCheckpoint } from '../lib/synth/perturb.js';
import { exclusiveTokens } from '../lib/synth/plant.js';
import { loadTokenizer } from '../lib/tokenize/tokenizer.js';
import { PACKAGE_ROOT } from '../lib/version.js';
import { attentionRates, knockoutRates, RATE_ALPHAS, rateShares, representationRates, type TestRates } from '../lib/results/test-rates.js';

const WORK = process.env.CALIBRATION_DIR ?? path.join(os.tmpdir(), 'legal-attn-calibration');
const CONCEPTS = path.join(PACKAGE_ROOT, 'concepts');
const BASE = path.join(PACKAGE_ROOT, 'models', 'tiny-legal-base');
const TWIN = path.join(PACKAGE_ROOT, 'models', 'tiny-legal-base-dynamo');
const ALPHA = 0.05;
/** Seeds of the noisy copies (another list gives held-out nulls: CALIBRATION_SEEDS=4,5,6). */
const SEEDS = (process.env.CALIBRATION_SEEDS ?? '1,2,3').split(',').map(Number);
const SCALES = [0.02, 0.1];
/** The planted change: sd of the noise added to the planted rows, × the embedding table's sd. */
const PLANT_SCALE = 0.3;
const KNOCKOUT = process.env.CALIBRATION_KNOCKOUT !== '0';
/** Layers also knocked out alone (CALIBRATION_KNOCKOUT_LAYERS=0,1,2,3,4,5: several measures per concept for the count test, at 7× the passes). */
const KNOCKOUT_LAYERS = (process.env.CALIBRATION_KNOCKOUT_LAYERS ?? '').split(',').filter(Boolean).map(Number);

async function main(): Promise<void> {
  const concepts = await loadConcepts(CONCEPTS);
  const tokenizer = await loadTokenizer(BASE);
  const run = async (after: string, out: string): Promise<CompareSummary> =>
    compareCheckpoints({
      models: [{ name: 'before', dir: BASE }, { name: 'after', dir: after }],
      concepts: CONCEPTS,
      out: path.join(WORK, out),
      force: true,
      cacheDir: path.join(WORK, 'cache'),
      querySets: ['all', 'after'],
      sink: 'exclude',
      maps: 'none',
      ...(KNOCKOUT ? { knockout: true, knockoutLayers: KNOCKOUT_LAYERS } : {}),
    });
  const copy = async (name: string, options: Parameters<typeof perturbCheckpoint>[2]): Promise<string> => (await perturbCheckpoint(BASE, path.join(WORK, 'models', name), options)).out;
  const nulls: Record<string, CompareSummary[]> = {};
  for (const scale of SCALES) {
    nulls[`noise ${scale}`] = [];
    for (const seed of SEEDS) {
      const name = `noise-${scale}-seed-${seed}`;
      nulls[`noise ${scale}`]!.push(await run(await copy(name, { noise: { scale, seed } }), `null-${name}`));
      process.stderr.write(`${name} done\n`);
    }
  }
  nulls['exporter twin'] = [await run(TWIN, 'null-exporter-twin')];
  // Two plants, each on every third concept (the ones whose term holds a token found nowhere else).
  const plants = [];
  for (const offset of [0, 1]) {
    const chosen = new Set(concepts.filter((_, k) => k % 3 === offset).map((c) => c.id));
    const { tokens, planted } = await exclusiveTokens(tokenizer, concepts, chosen);
    const dir = await copy(`planted-${offset}`, { noise: { scale: 0.02, seed: 100 + offset }, plant: { tokens, scale: PLANT_SCALE, seed: 200 + offset } });
    plants.push({ summary: await run(dir, `planted-${offset}`), planted, tokens: tokens.length });
    process.stderr.write(`plant ${offset} done\n`);
  }
  const variants = ['all/include', 'all/exclude', 'after/include', 'after/exclude'];
  // every family's rates over some runs, for the concepts `chosen` picks
  const families = (summaries: readonly CompareSummary[], chosen: (c: string) => boolean = () => true): Record<string, TestRates> => ({
    ...Object.fromEntries(variants.map((v) => [`attention ${v}`, attentionRates(summaries.map((s) => s.comparison), v, ALPHA, chosen)])),
    ...Object.fromEntries(variants.map((v) => [`value-weighted ${v}`, attentionRates(summaries.map((s) => s.comparison), v, ALPHA, chosen, 'value')])),
    representations: representationRates(summaries.map((s) => measuredRepresentations(s.representations)), ALPHA, chosen),
    ...(KNOCKOUT ? { 'knockout loglik': knockoutRates(summaries.map((s) => s.knockout), ALPHA, chosen, ['loglik']), 'knockout state': knockoutRates(summaries.map((s) => s.knockout), ALPHA, chosen, ['state']) } : {}),
  });
  const shares = (rates: Record<string, TestRates>) => Object.fromEntries(Object.entries(rates).map(([k, r]) => [k, rateShares(r)]));
  const table = Object.entries(nulls).map(([name, summaries]) => ({ null: name, pairs: summaries.length, families: shares(families(summaries)) }));
  const plantTable = plants.map(({ summary, planted, tokens }) => {
    const [found, others] = [shares(families([summary], (c) => planted.has(c))), shares(families([summary], (c) => !planted.has(c)))];
    return { planted: [...planted], tokens, families: Object.fromEntries(Object.keys(found).map((k) => [k, { planted: found[k]!, others: others[k]! }])) };
  });
  const columns = ['p<0.05', 'p<0.01', 'p<0.001', 'count p<α', 'some q<α', 'overall p<α', 'tests'];
  process.stdout.write(`| null | measure | ${columns.join(' | ')} |\n|${['', '', ...columns].map(() => '---').join('|')}|\n`);
  for (const row of table) {
    for (const [measure, r] of Object.entries(row.families)) process.stdout.write(`| ${row.null} (${row.pairs}) | ${measure} | ${columns.map((c) => r[c]).join(' | ')} |\n`);
  }
  process.stdout.write(`\n| plant | measure | planted: count p<0.05 | planted: p<0.05 | others: count p<0.05 | others: p<0.05 |\n|---|---|---|---|---|---|\n`);
  plantTable.forEach((row, k) => {
    for (const [measure, r] of Object.entries(row.families)) process.stdout.write(`| ${k + 1} (${row.planted.length} concepts, ${row.tokens} tokens) | ${measure} | ${r.planted['count p<α']} | ${r.planted['p<0.05']} | ${r.others['count p<α']} | ${r.others['p<0.05']} |\n`);
  });
  const file = path.join(PACKAGE_ROOT, 'reports', 'calibration.json');
  await writeJson(file, { alphas: RATE_ALPHAS, seeds: SEEDS, knockoutLayers: KNOCKOUT ? ['all', ...KNOCKOUT_LAYERS] : [], scales: SCALES, plantScale: PLANT_SCALE, nulls: table, plants: plantTable });
  process.stdout.write(`\nwrote ${file}\n`);
}

await main();
