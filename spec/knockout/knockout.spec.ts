import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { loadConcepts } from '../../lib/concepts/load-concepts.js';
import { compareCheckpoints } from '../../lib/commands/compare.js';
import { measureResults } from '../../lib/commands/measure.js';
import { chunks, knockedOutSpans, knockoutRows, layerSetsOf, type KnockoutRow } from '../../lib/knockout/rows.js';
import { loadManifest } from '../../lib/options/manifest.js';
import { readResults } from '../../lib/results/summary-file.js';
import { readTraceIndex } from '../../lib/results/trace-index.js';
import { exclusiveTokens } from '../../lib/synth/plant.js';
import { synthCheckpoint } from '../../lib/synth/synth-checkpoint.js';
import { loadTokenizer } from '../../lib/tokenize/tokenizer.js';
import { listFiles, modelDir, ROOT, run, temporaryFolder } from '../helpers.js';

const CONCEPTS = ['hearsay', 'consideration', 'mens-rea', 'easement', 'negligence', 'offer'];

async function someConcepts(ids: readonly string[]): Promise<string> {
  const dir = path.join(await temporaryFolder(), 'concepts');
  await mkdir(dir);
  for (const id of ids) await copyFile(path.join(ROOT, 'concepts', `${id}.yaml`), path.join(dir, `${id}.yaml`));
  return dir;
}

type Row = Record<string, string>;

/** The trace cache's entries (their .json records) of one model that hold a knockout pass. */
async function knockoutEntries(folder: string): Promise<string[]> {
  const records = (await readdir(folder)).filter((file) => file.endsWith('.json')).map((file) => path.join(folder, file));
  const holds = await Promise.all(records.map(async (file) => (JSON.parse(await readFile(file, 'utf8')) as { parts: Array<{ name: string }> }).parts.some((p) => p.name === 'knockout')));
  return records.filter((_, k) => holds[k]);
}
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
      { kind: 'control', tokens: [2], span: 0 },
      { kind: 'control', tokens: [2], span: 0, layer: 1 },
      { kind: 'control', tokens: [2], span: 0, layer: 3 },
      { kind: 'word', label: 'court', tokens: [11, 12], span: 1 },
      { kind: 'word', label: 'court', tokens: [11, 12], span: 1, layer: 1 },
      { kind: 'word', label: 'court', tokens: [11, 12], span: 1, layer: 3 },
    ]);
  });

  it('keep every word and at most n control runs of each width, the same seeded sample whenever asked, in plan order', () => {
    const control = (start: number, width: number) => ({ kind: 'control' as const, tokens: Array.from({ length: width }, (_, k) => start + k) });
    const references = [...Array.from({ length: 10 }, (_, k) => control(1 + k, 1)), control(20, 2), control(30, 2), { kind: 'word' as const, word: 'court', tokens: [40] }, { kind: 'word' as const, word: 'held', tokens: [41] }];
    const kept = knockedOutSpans(references, 3, 1, 5);
    assert.deepEqual(kept, [...kept].sort((a, b) => a - b));
    assert.equal(kept.filter((k) => k < 10).length, 3);
    assert.deepEqual(kept.slice(3), [10, 11, 12, 13]);
    assert.deepEqual(knockedOutSpans(references, 3, 1, 5), kept);
    assert.notDeepEqual([1, 2, 3, 4, 6, 7].map((sequence) => knockedOutSpans(references, 3, 1, sequence).join()), Array(6).fill(kept.join()), 'each sequence draws its own sample');
    assert.deepEqual(knockedOutSpans(references, undefined, 1, 5), references.map((_, k) => k));
    assert.deepEqual(knockoutRows({ spans: [] }, references, ['all'], [2, 12]).slice(1), [{ kind: 'control', tokens: [3], span: 2 }, { kind: 'word', label: 'court', tokens: [40], span: 12 }]);
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
      // a cache of its own: the two runs would otherwise share their passes
      await compareCheckpoints({ models, concepts, out: path.join(root, out), cacheDir: path.join(root, `cache-${out}`), representations: false, knockout: true, ...(maxMemoryBytes ? { maxMemoryBytes } : {}) });
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

  it('passes come from the trace cache when the model and texts are the same: the second run computes none and writes the same knockout.csv, a stopped run resumes, another model computes its own', async () => {
    const root = await temporaryFolder();
    const concepts = await someConcepts(['hearsay', 'easement']);
    const cacheDir = path.join(root, 'cache');
    const compare = async (out: string, other: 'cpt' | 'ift') =>
      compareCheckpoints({ models: [{ name: 'base', dir: modelDir('base') }, { name: other, dir: modelDir(other) }], concepts, out: path.join(root, out), cacheDir, representations: false, knockout: true });
    const first = await compare('first', 'cpt');
    const sequences = (await listFiles(path.join(root, 'first', 'traces', 'base'))).filter((file) => file.endsWith('knockout-rows.json')).length;
    assert.ok(sequences > 0);
    assert.equal(first.knockoutComputed, 2 * sequences);
    const second = await compare('second', 'cpt');
    assert.equal(second.knockoutComputed, 0);
    assert.equal(await readFile(path.join(root, 'second', 'knockout.csv'), 'utf8'), await readFile(path.join(root, 'first', 'knockout.csv'), 'utf8'));
    // a run stopped after base's first two knockout passes left only those in the cache
    const base = (await readTraceIndex(path.join(root, 'first'))).find((m) => m.name === 'base')!.contentHash;
    const entries = await knockoutEntries(path.join(cacheDir, 'traces', base));
    assert.equal(entries.length, sequences);
    await Promise.all(entries.slice(2).map((entry) => rm(entry)));
    // then base computes the others; ift's weights are another model's, whose passes are all its own
    const changed = await compare('changed', 'ift');
    assert.equal(changed.knockoutComputed, sequences - 2 + sequences);
  });

  it('with --knockout-controls 4 knocks out at most 4 control runs of each width per sequence and every word, is judged, and measure writes knockout.csv again byte for byte', async () => {
    const root = await temporaryFolder();
    const concepts = await someConcepts(CONCEPTS);
    const out = path.join(root, 'out');
    const ran = await run('--cache', path.join(root, 'cache'), 'compare', '-m', `base=${modelDir('base')}`, '-m', `cpt=${modelDir('cpt')}`, '-c', concepts, '-o', out, '--maps', 'full', '--knockout', '--knockout-controls', '4', '--no-representations', '--no-report');
    assert.equal(ran.code, 0, ran.err);
    const plan = JSON.parse(await readFile(path.join(out, 'references.json'), 'utf8')) as { sequences: Array<{ dir: string; spans: Array<{ kind: string; tokens: number[] }> }> };
    let fewer = 0;
    for (const sequence of plan.sequences.filter((s) => s.spans.length > 0)) {
      const rows = JSON.parse(await readFile(path.join(out, 'traces', 'cpt', sequence.dir, 'knockout-rows.json'), 'utf8')) as KnockoutRow[];
      const widths = new Map<number, number>();
      for (const span of sequence.spans) if (span.kind === 'control') widths.set(span.tokens.length, (widths.get(span.tokens.length) ?? 0) + 1);
      const words = sequence.spans.filter((span) => span.kind === 'word').length;
      const controls = [...widths.values()].reduce((n, count) => n + Math.min(4, count), 0);
      const concept = rows.filter((r) => r.kind === 'concept').length;
      assert.equal(rows.length, 1 + concept + words + controls, sequence.dir);
      assert.deepEqual(rows.filter((r) => r.kind === 'word').map((r) => sequence.spans[r.span!]!.kind), Array(words).fill('word'));
      if (controls < sequence.spans.length - words) fewer++;
    }
    assert.ok(fewer > 0, 'some sequence had more than 4 control runs of a width');
    const results = (await readResults(out)).summary.knockout;
    assert.ok(results && !('skipped' in results));
    assert.ok(results.changes.some((c) => c.scope !== '*' && c.pValue?.some(Number.isFinite)), 'the concepts are judged against the null');
    // matched to control runs that were knocked out only: a run left out has no value, and would make the effect NaN
    for (const change of results.changes.filter((c) => c.scope !== '*' && !c.untested)) assert.ok(change.effect?.every(Number.isFinite), `${change.measure} ${change.scope} ${change.model}: ${change.effect?.join(', ')}`);
    await measureResults(out, { out: path.join(root, 'measured') });
    assert.equal(await readFile(path.join(root, 'measured', 'knockout.csv'), 'utf8'), await readFile(path.join(out, 'knockout.csv'), 'utf8'));
  });

  it('refuses a --knockout-controls that is no whole number from 1, in one line naming the flag', async () => {
    const root = await temporaryFolder();
    for (const value of ['0', '-1', 'x']) {
      const ran = await run('compare', '-m', `base=${modelDir('base')}`, '-c', path.join(ROOT, 'concepts'), '-o', path.join(root, 'o'), '--knockout', `--knockout-controls=${value}`);
      assert.equal(ran.code, 2, value);
      assert.equal(ran.err.trim().split('\n').length, 1, ran.err);
      assert.match(ran.err, new RegExp(`--knockout-controls must be a whole number from 1 to 100000; got ${value}`));
    }
    // and from a library caller, before any model is opened
    await assert.rejects(compareCheckpoints({ models: [{ name: 'a', dir: path.join(root, 'none') }, { name: 'b', dir: path.join(root, 'none') }], concepts: path.join(ROOT, 'concepts'), out: path.join(root, 'o'), knockout: true, knockoutControls: 0 }), /--knockout-controls must be a whole number from 1 to 100000; got 0\./);
  });

  it('is asked for in a manifest as on the command line', async () => {
    const dir = await temporaryFolder();
    const file = path.join(dir, 'study.yaml');
    await writeFile(file, 'models:\n  base: m/base\n  cpt: m/cpt\nruns:\n  - name: one\n    models: [base, cpt]\n    concepts: concepts\n    out: out/one\n    knockout: true\n    knockout-layers: [0, 2]\n    knockout-controls: 4\n');
    const [one] = (await loadManifest(file)).runs;
    assert.deepEqual([one!.knockout, one!.knockoutLayers, one!.knockoutControls], [true, [0, 2], 4]);
  });
});
