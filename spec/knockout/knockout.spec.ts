import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { loadConcepts } from '../../lib/concepts/load-concepts.js';
import { compareCheckpoints } from '../../lib/commands/compare.js';
import { measureResults } from '../../lib/commands/measure.js';
import { chunks, knockoutRows, layerSetsOf } from '../../lib/knockout/rows.js';
import { loadManifest } from '../../lib/options/manifest.js';
import { readResults } from '../../lib/results/summary-file.js';
import { exclusiveTokens } from '../../lib/synth/plant.js';
import { synthCheckpoint } from '../../lib/synth/synth-checkpoint.js';
import { loadTokenizer } from '../../lib/tokenize/tokenizer.js';
import { modelDir, ROOT, run, temporaryFolder } from '../helpers.js';

const CONCEPTS = ['hearsay', 'consideration', 'mens-rea', 'easement', 'negligence', 'offer'];

async function someConcepts(ids: readonly string[]): Promise<string> {
  const dir = path.join(await temporaryFolder(), 'concepts');
  await mkdir(dir);
  for (const id of ids) await copyFile(path.join(ROOT, 'concepts', `${id}.yaml`), path.join(dir, `${id}.yaml`));
  return dir;
}

type Row = Record<string, string>;
const csv = async (file: string): Promise<Row[]> => parse<Row>(await readFile(file, 'utf8'), { columns: true });
const header = async (file: string): Promise<string> => (await readFile(file, 'utf8')).split('\n')[0]!;

describe('knockout rows', () => {
  it('are the baseline, then the concept and each reference span under every layer set in turn', () => {
    const aligned = { spans: [{ tokens: [4, 5] }, { tokens: [5, 6] }, { label: 'part', tokens: [9] }] };
    const rows = knockoutRows(aligned, [{ kind: 'control', tokens: [2] }, { kind: 'word', word: 'court', tokens: [11, 12] }], layerSetsOf([3, 1]));
    assert.deepEqual(rows, [
      { kind: 'baseline', tokens: [] },
      { kind: 'concept', tokens: [4, 5, 6] },
      { kind: 'concept', tokens: [4, 5, 6], layer: 1 },
      { kind: 'concept', tokens: [4, 5, 6], layer: 3 },
      { kind: 'control', tokens: [2] },
      { kind: 'control', tokens: [2], layer: 1 },
      { kind: 'control', tokens: [2], layer: 3 },
      { kind: 'word', label: 'court', tokens: [11, 12] },
      { kind: 'word', label: 'court', tokens: [11, 12], layer: 1 },
      { kind: 'word', label: 'court', tokens: [11, 12], layer: 3 },
    ]);
  });

  it('run in batches that fit the budget beside their baseline row', () => {
    assert.deepEqual(chunks([1, 2, 3, 4, 5], 10, 35), [[1, 2], [3, 4], [5]]);
    assert.deepEqual(chunks([1, 2], 10, 20), [[1], [2]]);
    // a budget below two rows was refused before any model ran (checkKnockoutFits)
    assert.throws(() => chunks([1, 2], 10, 19), /19 bytes hold no knocked-out row of 10 bytes beside its baseline/);
  });
});

describe('compare --knockout', function () {
  this.timeout(1_200_000);

  it('between a checkpoint and a copy changed only at some concepts\' term tokens: no change at all at the others, a change at those; knockout.csv has representations.csv\'s columns and measure writes it again byte for byte', async () => {
    const root = await temporaryFolder();
    const concepts = await someConcepts(CONCEPTS);
    const loaded = await loadConcepts(concepts);
    const { tokens, planted } = await exclusiveTokens(await loadTokenizer(modelDir('base')), loaded, new Set(['hearsay', 'easement']));
    assert.deepEqual([...planted].sort(), ['easement', 'hearsay']);
    const shape = { layers: 2, heads: 4, kvHeads: 2, hidden: 64, vocab: 4096, seed: 1 };
    const before = await synthCheckpoint(path.join(root, 'before'), shape);
    const after = await synthCheckpoint(path.join(root, 'after'), { ...shape, plant: { tokens, scale: 0.5, seed: 7 } });
    const out = path.join(root, 'out');
    const models = [{ name: 'before', dir: before }, { name: 'after', dir: after }];
    const summary = await compareCheckpoints({ models, concepts, out, cacheDir: path.join(root, 'cache'), maps: 'full', knockout: true, knockoutLayers: [1] });
    const knockout = summary.knockout;
    assert.ok(knockout);
    assert.deepEqual(knockout.layerSets, ['all', 1]);
    const pair = knockout.changes.filter((c) => c.model === 'after:before' && c.scope !== '*');
    assert.deepEqual(new Set(pair.map((c) => c.scope)), new Set(CONCEPTS));
    for (const change of pair) {
      if (planted.has(change.scope)) {
        // knocked out in every layer the change is large; in the last layer alone, small but there
        assert.ok(Math.abs(change.concept[0]!) > 1e-3 && change.concept[1] !== 0, `${change.measure} ${change.scope}: ${change.concept.join(', ')}`);
      } else {
        // texts without a changed token run bit for bit as before, knocked out or not
        assert.deepEqual(change.concept, [0, 0], `${change.measure} ${change.scope}`);
      }
    }
    // each model on its own depends on every concept somewhat
    for (const change of knockout.changes.filter((c) => c.model === 'before' && c.scope !== '*' && c.measure === 'state')) assert.ok(change.concept[0]! > 0, change.scope);

    assert.equal(await header(path.join(out, 'knockout.csv')), await header(path.join(out, 'representations.csv')));
    const rows = await csv(path.join(out, 'knockout.csv'));
    const hearsay = rows.filter((r) => r.measure === 'loglik' && r.scope === 'hearsay' && r.model === 'after:before');
    assert.deepEqual(hearsay.map((r) => r.layer), ['', '1']);
    assert.equal(Number(hearsay[0]!.value), pair.find((c) => c.measure === 'loglik' && c.scope === 'hearsay')!.concept[0]);
    const json = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as { knockout: { definitions: Record<string, string>; layerSets: unknown[] } };
    assert.deepEqual(json.knockout.layerSets, ['all', 1]);
    assert.match(json.knockout.definitions.knockout!, /i > max S/);
    // read back in the form a report draws from
    const read = (await readResults(out)).summary.knockout;
    assert.ok(read && !('skipped' in read));
    assert.equal(read.changes.length, knockout.changes.length);

    await measureResults(out, { out: path.join(root, 'measured') });
    assert.equal(await readFile(path.join(root, 'measured', 'knockout.csv'), 'utf8'), await readFile(path.join(out, 'knockout.csv'), 'utf8'));
  });

  it('cut into runs of a few rows to fit a small --max-memory-gb, gives the values of one run per sequence', async () => {
    const root = await temporaryFolder();
    const concepts = await someConcepts(['hearsay', 'easement']);
    const shape = { layers: 2, heads: 4, kvHeads: 2, hidden: 64, vocab: 4096 };
    const models = [{ name: 'a', dir: await synthCheckpoint(path.join(root, 'a'), { ...shape, seed: 1 }) }, { name: 'b', dir: await synthCheckpoint(path.join(root, 'b'), { ...shape, seed: 2 }) }];
    const valuesOf = async (out: string, maxMemoryBytes?: number): Promise<Row[]> => {
      await compareCheckpoints({ models, concepts, out: path.join(root, out), cacheDir: path.join(root, 'cache'), representations: false, knockout: true, ...(maxMemoryBytes ? { maxMemoryBytes } : {}) });
      return csv(path.join(root, out, 'knockout.csv'));
    };
    const whole = await valuesOf('whole');
    // about 2 MB a row at these texts' lengths: runs of a handful of rows
    const cut = await valuesOf('cut', 16 * 1024 ** 2);
    assert.equal(cut.length, whole.length);
    cut.forEach((row, k) => {
      for (const column of ['value', 'control']) {
        const [x, y] = [Number(row[column]), Number(whole[k]![column])];
        assert.ok(Math.abs(x - y) <= 1e-4 * Math.max(1, Math.abs(y)), `${row.measure} ${row.scope} ${row.model} ${column}: ${x} vs ${y}`);
      }
    });
  });

  it('runs on fused attention as on decomposed, and is refused in one line, before any model runs, for a layer the models lack', async () => {
    const root = await temporaryFolder();
    const concepts = await someConcepts(['hearsay']);
    const fused = async (seed: number): Promise<string> => synthCheckpoint(path.join(root, `fused-${seed}`), { layers: 2, heads: 4, kvHeads: 2, hidden: 64, seed, attention: 'gqa' });
    const ran = await run('compare', '-m', `a=${await fused(1)}`, '-m', `b=${await fused(2)}`, '-c', concepts, '-o', path.join(root, 'o1'), '--knockout', '--no-report');
    assert.equal(ran.code, 0, ran.err);
    const rows = await csv(path.join(root, 'o1', 'knockout.csv'));
    const concept = rows.filter((row) => row.model === 'a' && row.measure === 'loglik' && row.scope === 'hearsay');
    assert.ok(concept.length > 0 && concept.every((row) => Number.isFinite(Number(row.value)) && Number(row.value) !== 0), 'the knockout moves the likelihood after the concept');
    const layer = await run('compare', '-m', `base=${modelDir('base')}`, '-m', `cpt=${modelDir('cpt')}`, '-c', concepts, '-o', path.join(root, 'o2'), '--knockout', '--knockout-layers', '0,9', '--no-report');
    assert.equal(layer.code, 2);
    assert.match(layer.err, /--knockout-layers: layer 9 is outside base's layers 0 to \d+\./);
    assert.equal(layer.err.trim().split('\n').length, 1, layer.err);
    const bad = await run('compare', '-m', `base=${modelDir('base')}`, '-c', concepts, '-o', path.join(root, 'o3'), '--knockout-layers', '1,x');
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--knockout-layers must be layer numbers from 0, comma-separated; got 1,x/);
  });

  it('is asked for in a manifest as on the command line', async () => {
    const dir = await temporaryFolder();
    const file = path.join(dir, 'study.yaml');
    await writeFile(file, 'models:\n  base: m/base\n  cpt: m/cpt\nruns:\n  - name: one\n    models: [base, cpt]\n    concepts: concepts\n    out: out/one\n    knockout: true\n    knockout-layers: [0, 2]\n');
    const [one] = (await loadManifest(file)).runs;
    assert.deepEqual([one!.knockout, one!.knockoutLayers], [true, [0, 2]]);
  });
});
