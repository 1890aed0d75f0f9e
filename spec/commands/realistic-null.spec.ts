import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { attentionRates, knockoutRates, representationRates } from '../../lib/results/test-rates.js';
import { calibratePair } from '../../lib/commands/calibrate.js';
import { loadConcepts } from '../../lib/concepts/load-concepts.js';
import type { RepresentationResults } from '../../lib/represent/representations.js';
import { measuredRepresentations } from '../../lib/results/comparison-files.js';
import { compareCheckpoints, type CompareSummary } from '../../lib/commands/compare.js';
import { perturbCheckpoint } from '../../lib/synth/perturb.js';
import { exclusiveTokens } from '../../lib/synth/plant.js';
import { loadTokenizer } from '../../lib/tokenize/tokenizer.js';
import { modelDir, ROOT, temporaryFolder } from '../helpers.js';

const CONCEPTS = path.join(ROOT, 'concepts');
const states = (s: CompareSummary): RepresentationResults | undefined => measuredRepresentations(s.representations);
const share = (n: number, of: number): number => n / Math.max(1, of);

/** A small version of `npm run calibrate`: one pair of each kind, on the shipped concepts. */
describe('findings under realistic nulls', function () {
  this.timeout(900_000);
  let root = '';
  const compare = async (after: string, out: string, knockout = false): Promise<CompareSummary> =>
    compareCheckpoints({
      models: [{ name: 'base', dir: modelDir('base') }, { name: 'after', dir: after }],
      concepts: CONCEPTS,
      out: path.join(root, out),
      cacheDir: path.join(root, 'cache'),
      maps: 'none',
      // a few control runs per width keep the knockout passes short
      ...(knockout ? { knockout: true, knockoutControls: 4 } : {}),
    });
  before(async () => {
    root = await temporaryFolder();
  });

  it('base against a copy with noise on every weight: about alpha of the tests, in the tail too, and no overall finding', async () => {
    const copy = await perturbCheckpoint(modelDir('base'), path.join(root, 'noise'), { noise: { scale: 0.05, seed: 9 } });
    const summary = await compare(copy.out, 'noise-out', true);
    const attention = attentionRates([summary.comparison], 'all/include', 0.05);
    assert.equal(attention.concepts, 34);
    const rate = share(attention.below[0.05]!, attention.tests);
    assert.ok(rate > 0.01 && rate < 0.09, `attention, p < 0.05: ${rate}`);
    assert.ok(share(attention.below[0.001]!, attention.tests) <= 0.003, 'attention, p < 0.001');
    assert.equal(attention.overallBelow, 0, 'concepts beating chance overall, attention');
    // the value-weighted share, through the same chance test: as calibrated
    const value = attentionRates([summary.comparison], 'all/include', 0.05, () => true, 'value');
    assert.equal(value.concepts, 34);
    const valueRate = share(value.below[0.05]!, value.tests);
    assert.ok(valueRate > 0.01 && valueRate < 0.09, `value-weighted, p < 0.05: ${valueRate}`);
    assert.equal(value.overallBelow, 0, 'concepts beating chance overall, value-weighted');
    const representations = representationRates([states(summary)], 0.05);
    assert.ok(share(representations.below[0.05]!, representations.tests) < 0.12, `representations, p < 0.05: ${share(representations.below[0.05]!, representations.tests)}`);
    assert.equal(representations.overallBelow, 0, 'concepts beating chance overall, representations');
    // knockout: the pair's change of dependence, both measures, no tail and no overall finding
    const knockout = knockoutRates([summary.knockout], 0.05);
    assert.equal(knockout.concepts, 68);
    assert.ok(share(knockout.below[0.05]!, knockout.tests) < 0.12, `knockout, p < 0.05: ${share(knockout.below[0.05]!, knockout.tests)}`);
    assert.equal(knockout.below[0.001], 0, 'knockout, p < 0.001');
    assert.equal(knockout.overallBelow, 0, 'concepts beating chance overall, knockout');
    // the run's own negative controls beat chance about as often as alpha says
    const own = summary.comparison.negativeControls.find((n) => n.sequences === 3)!;
    assert.ok(own.tests['0.05'] > 0.03 && own.tests['0.05'] < 0.07, `negative controls: ${own.tests['0.05']}`);
  });

  it('base against its twin from the other exporter: every difference below the measures\' precision is a tie, and nothing beats chance', async () => {
    const summary = await compare(modelDir('base-dynamo'), 'twin-out', true);
    const attention = attentionRates([summary.comparison], 'all/include', 0.05);
    const representations = representationRates([states(summary)], 0.05);
    const knockout = knockoutRates([summary.knockout], 0.05);
    assert.deepEqual([attention.below[0.05], attention.countBelow, attention.overallBelow], [0, 0, 0]);
    assert.deepEqual([representations.below[0.05], representations.countBelow, representations.overallBelow], [0, 0, 0]);
    assert.deepEqual([knockout.below[0.05], knockout.countBelow, knockout.overallBelow], [0, 0, 0]);
  });

  it('a change planted on the terms of some concepts, over that noise, is found at most of them and at few others', async () => {
    const concepts = await loadConcepts(CONCEPTS);
    const chosen = new Set(concepts.filter((_, k) => k % 3 === 2).map((c) => c.id));
    const { tokens, planted } = await exclusiveTokens(await loadTokenizer(modelDir('base')), concepts, chosen);
    assert.ok(planted.size >= 6, `${planted.size} concepts planted`);
    const copy = await perturbCheckpoint(modelDir('base'), path.join(root, 'planted'), { noise: { scale: 0.02, seed: 10 }, plant: { tokens, scale: 0.3, seed: 11 } });
    const summary = await compare(copy.out, 'planted-out');
    const found = attentionRates([summary.comparison], 'all/include', 0.05, (c) => planted.has(c));
    const others = attentionRates([summary.comparison], 'all/include', 0.05, (c) => !planted.has(c));
    assert.ok(share(found.countBelow, found.concepts) >= 0.5, `attention found ${found.countBelow} of ${found.concepts}`);
    assert.ok(share(others.countBelow, others.concepts) <= 0.1, `attention, others ${others.countBelow} of ${others.concepts}`);
    // the value-weighted share sees the same planted change through the same test
    const foundValue = attentionRates([summary.comparison], 'all/include', 0.05, (c) => planted.has(c), 'value');
    const otherValue = attentionRates([summary.comparison], 'all/include', 0.05, (c) => !planted.has(c), 'value');
    assert.ok(share(foundValue.countBelow, foundValue.concepts) >= 0.5, `value-weighted found ${foundValue.countBelow} of ${foundValue.concepts}`);
    assert.ok(share(otherValue.countBelow, otherValue.concepts) <= 0.1, `value-weighted, others ${otherValue.countBelow} of ${otherValue.concepts}`);
    const foundStates = representationRates([states(summary)], 0.05, (c) => planted.has(c));
    const otherStates = representationRates([states(summary)], 0.05, (c) => !planted.has(c));
    assert.ok(share(foundStates.countBelow, foundStates.concepts) >= 0.75, `representations found ${foundStates.countBelow} of ${foundStates.concepts}`);
    assert.ok(share(otherStates.countBelow, otherStates.concepts) <= 0.1, `representations, others ${otherStates.countBelow} of ${otherStates.concepts}`);
  });

  it('knockout: erasing the embedding rows of some concepts\' term tokens, over that noise, changes how much later tokens depend on those concepts, several times more than on the others', async () => {
    const concepts = await loadConcepts(CONCEPTS);
    const chosen = new Set(concepts.filter((_, k) => k % 3 === 2).map((c) => c.id));
    const { tokens, planted } = await exclusiveTokens(await loadTokenizer(modelDir('base')), concepts, chosen);
    const copy = await perturbCheckpoint(modelDir('base'), path.join(root, 'erased'), { noise: { scale: 0.02, seed: 10 }, plant: { tokens, scale: 0.3, seed: 11, erase: true } });
    const summary = await compare(copy.out, 'erased-out', true);
    assert.ok(summary.knockout);
    const changes = summary.knockout.changes.filter((c) => c.model === 'after:base' && c.scope !== '*' && c.effect);
    const size = (measure: string, chosen: boolean): number => {
      const effects = changes.filter((c) => c.measure === measure && planted.has(c.scope) === chosen).map((c) => Math.abs(c.effect![0]!));
      return effects.reduce((a, b) => a + b, 0) / effects.length;
    };
    for (const measure of ['loglik', 'state']) assert.ok(size(measure, true) > 3 * size(measure, false), `${measure}: mean |effect| ${size(measure, true)} at the erased concepts, ${size(measure, false)} at the others`);
    const others = knockoutRates([summary.knockout], 0.05, (c) => !planted.has(c));
    assert.ok(share(others.below[0.05]!, others.tests) <= 0.1, `knockout, others: ${share(others.below[0.05]!, others.tests)}`);
  });

  it('calibrate sets a pair\'s findings beside copies of its first model changed as much, about no concept, one copy on disk at a time', async () => {
    const out = path.join(root, 'calibrated');
    const summary = await calibratePair({ models: [{ name: 'base', dir: modelDir('base') }, { name: 'cpt', dir: modelDir('cpt') }], concepts: CONCEPTS, out, copies: 2, representations: false, cacheDir: path.join(root, 'cache') });
    assert.equal(summary.pair, 'cpt:base');
    const [verdict] = summary.verdicts;
    assert.equal(verdict!.family, 'attention all/include');
    assert.equal(verdict!.nullCounts.length, 2);
    assert.equal(verdict!.empiricalP, (1 + verdict!.nullCounts.filter((c) => c >= verdict!.conceptsBeatingChance).length) / 3);
    assert.ok(summary.cost.copyBytes > 8e6 && summary.cost.copySeconds.length === 2);
    // the copies are gone; the pair and each copy's comparison stay
    assert.deepEqual((await readdir(out)).sort(), ['calibration.json', 'nulls', 'pair']);
    assert.deepEqual((await readdir(path.join(out, 'nulls'))).sort(), ['copy-1', 'copy-2']);
    const written = JSON.parse(await readFile(path.join(out, 'calibration.json'), 'utf8')) as { verdicts: Array<{ family: string }>; note: string };
    assert.deepEqual(written.verdicts.map((v) => v.family), ['attention all/include', 'value-weighted all/include']);
    assert.match(written.note, /RMS of B − A/);
  });
});
