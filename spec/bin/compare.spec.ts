import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { writeNpy } from '../../lib/io/npy.js';
import { listFiles, modelDir, referenceAttention, referenceIndex, ROOT, temporaryFolder, type ReferenceProbe, probeConcepts, run } from '../helpers.js';
import { alteredCheckpoint } from './checkpoints.js';

type Row = Record<string, string>;
const readCsv = async (file: string): Promise<Row[]> => parse<Row>(await readFile(file, 'utf8'), { columns: true });

/** Share and entropy of one head straight from the reference map, by the definitions. */
function referenceMeasures(map: Float32Array, dims: number[], probe: ReferenceProbe, layer: number, head: number) {
  const [, heads = 0, T = 0] = dims;
  const concept = probe.offsets.flatMap(([a, b], t) => (b > a && probe.spans.some(([s, e]) => a < e && b > s) ? [t] : []));
  let onConcept = 0;
  let total = 0;
  let entropy = 0;
  for (let i = 0; i < T; i++) {
    for (let j = 0; j < T; j++) {
      const p = map[((layer * heads + head) * T + i) * T + j]!;
      total += p;
      if (concept.includes(j)) onConcept += p;
      if (p > 0) entropy -= p * Math.log(p);
    }
  }
  return { share: onConcept / total, entropy: entropy / T };
}

const MODELS = ['base', 'cpt', 'ift'] as const;

describe('legal-attn compare on the tiny family', () => {
  let out = '';
  let outFull = '';
  let concepts = '';
  before(async () => {
    concepts = await probeConcepts(path.join(await temporaryFolder(), 'concepts'));
    out = path.join(await temporaryFolder(), 'results');
    const result = await run('--quiet', 'compare', ...MODELS.flatMap((m) => ['--model', `${m}=${modelDir(m)}`]), '--concepts', concepts, '--out', out);
    assert.equal(result.code, 0, result.err);
    outFull = path.join(await temporaryFolder(), 'results-full');
    const full = await run('--quiet', 'compare', ...MODELS.flatMap((m) => ['--model', `${m}=${modelDir(m)}`]), '--concepts', concepts, '--out', outFull, '--maps', 'full', '--no-report');
    assert.equal(full.code, 0, full.err);
  });

  it('writes the summary, the CSV files, and per model the tokens and the head-averaged maps of the last layer', async () => {
    const files = await listFiles(out);
    for (const name of ['summary.json', 'shares.csv', 'changes.csv', 'stats.csv', 'layers.csv', 'traces/index.json', 'traces/base/trace.json', 'traces/ift/res-judicata/probe/tokens.json', 'traces/ift/res-judicata/probe/attentions-mean.npy']) {
      assert.ok(files.includes(name), name);
    }
    assert.ok(!files.some((f) => f.endsWith('attentions.npy')), 'no per-head maps without --maps full');
    const tokens = JSON.parse(await readFile(path.join(out, 'traces/ift/res-judicata/probe/tokens.json'), 'utf8')) as { ids: number[]; attentions: { shape: number[]; layers: number[] } };
    assert.deepEqual(tokens.attentions.layers, [5]);
    assert.deepEqual(tokens.attentions.shape, [1, tokens.ids.length, tokens.ids.length]);
    assert.ok((await listFiles(outFull)).includes('traces/ift/res-judicata/probe/attentions.npy'));
  });

  it('gives, measured inside the graph, the numbers measured from the full maps (which keep the attention lens only)', async () => {
    for (const name of ['shares.csv', 'layers.csv']) {
      const [inGraph, fromMaps] = [(await readCsv(path.join(out, name))).filter((r) => r.lens === 'attention'), await readCsv(path.join(outFull, name))];
      assert.ok(fromMaps.every((r) => r.lens === 'attention'));
      assert.equal(inGraph.length, fromMaps.length);
      inGraph.forEach((row, k) => {
        for (const [column, value] of Object.entries(row)) {
          const expected = fromMaps[k]![column]!;
          if (Number.isNaN(Number(value))) assert.equal(value, expected);
          else assert.ok(Math.abs(Number(value) - Number(expected)) < 1e-5, `${name} row ${k} ${column}: ${value} vs ${expected}`);
        }
      });
    }
  });

  it('gives per-head shares and entropies equal to those computed from the Hugging Face reference maps', async () => {
    const all = await readCsv(path.join(out, 'shares.csv'));
    const rows = all.filter((r) => r.lens === 'attention');
    assert.equal(rows.length, 4 * 3 * 6 * 8);
    // the value-weighted lens beside it, row for row
    assert.equal(all.filter((r) => r.lens === 'value').length, rows.length);
    for (const probe of (await referenceIndex()).probes) {
      for (const model of MODELS) {
        const reference = await referenceAttention(model, probe.id);
        for (const row of rows.filter((r) => r.concept === probe.id && r.model === model)) {
          const expected = referenceMeasures(reference.data, reference.dims, probe, Number(row.layer), Number(row.head));
          assert.ok(Math.abs(Number(row.share) - expected.share) < 1e-4, `${model}/${probe.id} share`);
          assert.ok(Math.abs(Number(row.entropy) - expected.entropy) < 1e-4, `${model}/${probe.id} entropy`);
        }
      }
    }
  });

  it('gives each pair\'s per-head change and its distribution from the reference maps', async () => {
    const probe = (await referenceIndex()).probes.find((p) => p.id === 'mens-rea')!;
    const [cpt, base] = [await referenceAttention('cpt', probe.id), await referenceAttention('base', probe.id)];
    const deltas: number[] = [];
    for (let l = 0; l < 6; l++) for (let h = 0; h < 8; h++) deltas.push(referenceMeasures(cpt.data, cpt.dims, probe, l, h).share - referenceMeasures(base.data, base.dims, probe, l, h).share);
    const rows = (await readCsv(path.join(out, 'changes.csv'))).filter((r) => r.concept === 'mens-rea' && r.sequence === '*' && r.pair === 'cpt:base' && r.lens === 'attention');
    assert.equal(rows.length, 48);
    rows.forEach((r, k) => assert.ok(Math.abs(Number(r.delta) - deltas[k]!) < 1e-4));
    const stats = (await readCsv(path.join(out, 'stats.csv'))).find((r) => r.concept === 'mens-rea' && r.pair === 'cpt:base' && r.lens === 'attention')!;
    const mean = deltas.reduce((a, b) => a + b, 0) / 48;
    const m2 = deltas.reduce((a, d) => a + (d - mean) ** 2, 0) / 48;
    const m3 = deltas.reduce((a, d) => a + (d - mean) ** 3, 0) / 48;
    assert.ok(Math.abs(Number(stats.mean) - mean) < 1e-5);
    assert.ok(Math.abs(Number(stats.skewness) - m3 / m2 ** 1.5) < 1e-3);
  });

  it('records definitions, options, models with content hashes and the tool version in summary.json', async () => {
    const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as {
      tool: { version: string };
      definitions: Record<string, string>;
      options: { pairs: string[]; seed: number };
      models: Array<{ name: string; contentHash: string }>;
      concepts: Array<{ id: string; results: Array<{ changes: Record<string, { headsBeatingChance: number | null; expectedByChance: number | null }> }> }>;
      overall: Array<{ lens?: string }>;
    };
    assert.match(summary.tool.version, /^\d+\.\d+\.\d+/);
    assert.match(summary.definitions.share!, /Σ_\{i∈Q\} Σ_\{j∈C\}/);
    assert.deepEqual(summary.options.pairs, ['cpt:base', 'ift:cpt', 'ift:base']);
    assert.deepEqual(summary.models.map((m) => m.name), ['base', 'cpt', 'ift']);
    assert.ok(summary.models.every((m) => /^[0-9a-f]{64}$/.test(m.contentHash)));
    assert.equal(summary.concepts.length, 4);
    const change = summary.concepts[0]!.results[0]!.changes['cpt:base']!;
    assert.equal(typeof change.headsBeatingChance, 'number');
    // heads with p < alpha among the negative-control words: about alpha × 48 = 2.4
    assert.ok(change.expectedByChance! > 1.5 && change.expectedByChance! < 3.5, String(change.expectedByChance));
    // the attention share and the value-weighted share, each with its definition
    assert.deepEqual(summary.overall.map((o) => o.lens ?? 'attention'), ['attention', 'value']);
    assert.match(summary.definitions.valueWeighted!, /‖v_j W_O\^h‖/);
  });

  it('measure recomputes the same results from the saved full maps, byte for byte', async () => {
    const again = path.join(await temporaryFolder(), 'again');
    assert.equal((await run('--quiet', 'measure', outFull, '--out', again)).code, 0);
    for (const name of ['summary.json', 'shares.csv', 'changes.csv', 'stats.csv', 'layers.csv']) {
      assert.equal(await readFile(path.join(again, name), 'utf8'), await readFile(path.join(outFull, name), 'utf8'), name);
    }
  });

  it('measure on results measured inside the graph says that they keep no per-head maps', async () => {
    const result = await run('measure', out, '--out', path.join(await temporaryFolder(), 'x'));
    assert.equal(result.code, 2);
    assert.match(result.err, /^legal-attn: .*trace\.json: compare ran with --maps mean, .*compare --maps full/);
  });

  it('measure with other options gives other numbers: the sink excluded is reported beside the sink included', async () => {
    const other = path.join(await temporaryFolder(), 'sink');
    assert.equal((await run('--quiet', 'measure', outFull, '--out', other, '--sink', 'exclude', '--query-set', 'all,after')).code, 0);
    const stats = await readCsv(path.join(other, 'stats.csv'));
    assert.deepEqual([...new Set(stats.map((r) => `${r.query_set}/${r.sink}`))].sort(), ['after/exclude', 'after/include', 'all/exclude', 'all/include']);
  });

  it('a second compare keeps the traces and writes identical results', async () => {
    const before = await readFile(path.join(out, 'summary.json'), 'utf8');
    const result = await run('--quiet', 'compare', ...MODELS.flatMap((m) => ['--model', `${m}=${modelDir(m)}`]), '--concepts', concepts, '--out', out);
    assert.equal(result.code, 0);
    assert.equal(await readFile(path.join(out, 'summary.json'), 'utf8'), before);
  });

  describe('refuses bad input with one line, exit 2 and nothing written', () => {
    const refuses = (argv: (outDir: string) => Promise<string[]>, message: RegExp) => async () => {
      const parent = await temporaryFolder();
      const { code, err } = await run(...(await argv(path.join(parent, 'out'))));
      assert.equal(code, 2, err);
      assert.match(err, message);
      assert.equal(err.trim().split('\n').length, 1, err);
      assert.deepEqual(await listFiles(parent), []);
    };
    const compare = (...extra: string[]) => async (o: string) => ['compare', '--model', `base=${modelDir('base')}`, '--model', `cpt=${modelDir('cpt')}`, '--concepts', concepts, '--out', o, ...extra];

    it('one model', refuses(async (o) => ['compare', '--model', `base=${modelDir('base')}`, '--concepts', concepts, '--out', o], /compare needs at least two models/));
    it('a pair naming an unknown model', refuses(compare('--pairs', 'ift:base'), /--pairs: "ift:base" names ift, which is not one of the models \(base, cpt\)/));
    it('the same name twice', refuses(async (o) => ['compare', '--model', `base=${modelDir('base')}`, '--model', `base=${modelDir('cpt')}`, '--concepts', concepts, '--out', o], /the name base is given twice/));
    it('a seed out of range', refuses(compare('--seed', '-1'), /--seed must be a whole number from 0 to 4294967295; got -1/));
    it('zero controls', refuses(compare('--controls', '0'), /--controls must be a whole number from 1 to 100000/));
    it('an alpha out of range', refuses(compare('--alpha', '1.5'), /--alpha must lie between 0 and 1/));
    it('an unknown query set', refuses(compare('--query-set', 'all,before'), /"before" is not a query set/));
    it('a map layer the models do not have', refuses(compare('--map-layers', '2,9'), /--map-layers: layer 9 is outside the models' layers 0 to 5/));
    it('the CUDA device where onnxruntime-node has no CUDA libraries', refuses(compare('--device', 'cuda'), /--device cuda: onnxruntime-node was installed without its CUDA libraries .*ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install.js/));
    it(
      'concepts with no spans',
      refuses(async (o) => {
        const file = path.join(await temporaryFolder(), 'bare.yaml');
        await writeFile(file, 'id: bare\nname: Bare\narea: tort\nsequences:\n  - id: s\n    text: A duty of care is owed.\n');
        return ['compare', '--model', `base=${modelDir('base')}`, '--model', `cpt=${modelDir('cpt')}`, '--concepts', file, '--out', o];
      }, /bare\.yaml:6: sequence s has no concept span/),
    );
    it(
      'two models with different tokenizers',
      refuses(async (o) => {
        const other = await alteredCheckpoint({
          tokenizer: (json) => {
            const vocab = (json as unknown as { model: { vocab: Record<string, number> } }).model.vocab;
            [vocab['▁contract'], vocab['▁only']] = [vocab['▁only']!, vocab['▁contract']!];
          },
        });
        return ['compare', '--model', `base=${modelDir('base')}`, '--model', `other=${other}`, '--concepts', concepts, '--out', o];
      }, /models base and other tokenize .* differently .*compare needs one tokenizer/),
    );
  });

  it('measure refuses traces of different shapes', async () => {
    const results = await temporaryFolder();
    const tokens = { concept: 'c', sequence: 's', ids: [1, 2, 3], spans: [{ start: 0, end: 1, tokens: [1] }] };
    for (const [name, layers] of [['a', 2], ['b', 3]] as const) {
      const folder = path.join(results, 'traces', name);
      await mkdir(path.join(folder, 'c', 's'), { recursive: true });
      await writeFile(path.join(folder, 'c', 's', 'tokens.json'), JSON.stringify(tokens));
      await writeNpy(path.join(folder, 'c', 's', 'attentions.npy'), { data: new Float32Array(layers * 9), dims: [layers, 1, 3, 3] });
      await writeFile(path.join(folder, 'trace.json'), JSON.stringify({ maps: 'full', model: { dir: name, contentHash: name }, concepts: [], sequences: [{ concept: 'c', sequence: 's', dir: 'c/s', tokens: 3 }] }));
    }
    await writeFile(path.join(results, 'traces', 'index.json'), JSON.stringify({ models: ['a', 'b'].map((name) => ({ name, dir: name, contentHash: name, trace: `traces/${name}` })) }));
    const classes = { logFrequency: [0, 0, 0], word: [-1, -1, -1], words: [] };
    await writeFile(path.join(results, 'references.json'), JSON.stringify({ features: [], controlsPerWidth: 32, seed: 1, sequences: [{ dir: 'c/s', classes, spans: [] }] }));
    const { code, err } = await run('measure', results);
    assert.equal(code, 2);
    assert.match(err, /different attention shapes \(2×1, 3×1 layers × heads\)/);
  });
});

describe('compare under several span rules, side by side', () => {
  it('measures the concept by majority beside by overlap, leaves the overlap numbers as they were, and says what holds under every choice', async () => {
    const hearsay = path.join(ROOT, 'concepts', 'hearsay.yaml');
    const models = MODELS.flatMap((m) => ['--model', `${m}=${modelDir(m)}`]);
    const plain = path.join(await temporaryFolder(), 'overlap');
    const both = path.join(await temporaryFolder(), 'both');
    assert.equal((await run('--quiet', 'compare', ...models, '--concepts', hearsay, '--out', plain, '--no-report')).code, 0);
    const result = await run('--quiet', 'compare', ...models, '--concepts', hearsay, '--out', both, '--no-report', '--span-tokens', 'overlap,majority', '--query-sets', 'all,after');
    assert.equal(result.code, 0, result.err);
    const rows = (await readCsv(path.join(both, 'stats.csv'))).filter((r) => r.concept === 'hearsay' && r.pair === 'cpt:base');
    const mean = (target: string): number => Number(rows.find((r) => r.target === target && r.query_set === 'all')!.mean);
    const before = (await readCsv(path.join(plain, 'stats.csv'))).find((r) => r.concept === 'hearsay' && r.pair === 'cpt:base' && r.target === 'concept')!;
    assert.equal(mean('concept'), Number(before.mean));
    // "what it asserts" drops the token `s,` by majority: another concept, another mean
    assert.notEqual(mean('concept@majority'), mean('concept'));
    const summary = JSON.parse(await readFile(path.join(both, 'summary.json'), 'utf8')) as { concepts: Array<{ id: string; widthTokens: number; robustness: Array<{ pair: string; choices: Array<{ target: string; querySet: string; meanDelta: number }>; direction: string }> }> };
    const robust = summary.concepts[0]!.robustness.find((r) => r.pair === 'cpt:base')!;
    assert.deepEqual(robust.choices.map((c) => `${c.target} ${c.querySet}`), ['concept all', 'concept after', 'concept@majority all', 'concept@majority after']);
    const signs = new Set(robust.choices.map((c) => Math.sign(c.meanDelta)));
    assert.equal(robust.direction, signs.size > 1 ? 'mixed' : signs.has(1) ? 'rose' : 'fell');
    assert.ok(summary.concepts[0]!.widthTokens > 1);
  });
});
