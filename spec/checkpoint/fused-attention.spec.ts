import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { runCli } from '../../bin/cli.js';
import { attentionKind, inspectCheckpoint } from '../../lib/commands/inspect.js';
import { synthCheckpoint, type AttentionForm, type SynthOptions } from '../../lib/synth/synth-checkpoint.js';
import { captureIo, ROOT, temporaryFolder } from '../helpers.js';

type Row = Record<string, string>;
const readCsv = async (file: string): Promise<Row[]> => parse<Row>(await readFile(file, 'utf8'), { columns: true });

// Head size 16: onnxruntime's rotary inside GroupQueryAttention takes multiples of 16.
const SHAPE = { layers: 2, heads: 8, kvHeads: 2, hidden: 128, vocab: 4096, slidingWindow: 6 };
// The measures; the chance statistics built on them (effect, p) are ratios and ranks that amplify float rounding.
const NUMBERS = ['share', 'entropy', 'control_share', 'lift', 'share_before', 'share_after', 'delta', 'relative', 'entropy_delta'];

/** A pair of synthetic checkpoints (seeds 1 and 2) written in one attention form, compared on hearsay. */
async function compareForm(form: AttentionForm, maps: 'mean' | 'full', window = true, extra: string[] = [], more: Partial<SynthOptions> = {}): Promise<{ shares: Row[]; changes: Row[]; blockRows: unknown }> {
  const root = await temporaryFolder();
  const shape = { ...(window ? SHAPE : { ...SHAPE, slidingWindow: undefined }), ...more };
  const [a, b] = await Promise.all([1, 2].map((seed) => synthCheckpoint(path.join(root, `seed-${seed}`), { ...shape, seed, attention: form })));
  const out = path.join(root, 'out');
  const io = captureIo();
  const argv = ['--quiet', 'compare', '--model', `a=${a}`, '--model', `b=${b}`, '--concepts', path.join(ROOT, 'concepts', 'hearsay.yaml'), '--query-sets', 'all,after', '--sink', 'exclude', '--maps', maps, '--out', out, '--no-report', ...extra];
  assert.equal(await runCli(argv, io), 0, io.err);
  const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as { options: { attentionBlockRows: unknown } };
  return { shares: await readCsv(path.join(out, 'shares.csv')), changes: await readCsv(path.join(out, 'changes.csv')), blockRows: summary.options.attentionBlockRows };
}

/** The rows of one lens: full maps keep the attention lens only, the graph gives the value-weighted one beside it. */
const ofLens = (rows: Row[], lens: 'attention' | 'value'): Row[] => rows.filter((r) => r.lens === lens);

/** The largest difference between two tables of the same rows, over their numeric columns (the attention lens unless told). */
function largestDifference(all: Row[], allOther: Row[], lens: 'attention' | 'value' = 'attention'): number {
  const [a, b] = [ofLens(all, lens), ofLens(allOther, lens)];
  assert.equal(a.length, b.length);
  assert.ok(a.length > 0, `no ${lens} rows`);
  let largest = 0;
  a.forEach((row, k) => {
    for (const column of NUMBERS) {
      if (!(column in row) || row[column] === '') continue;
      largest = Math.max(largest, Math.abs(Number(row[column]) - Number(b[k]![column])));
    }
  });
  return largest;
}

describe('fused attention checkpoints', function () {
  this.timeout(600_000);
  let decomposed: { shares: Row[]; changes: Row[]; blockRows: unknown };
  before(async () => {
    decomposed = await compareForm('decomposed', 'full');
  });

  for (const form of ['gqa', 'gqa-rotary-outside', 'gqa-unpacked', 'mha', 'onnx-attention'] as const) {
    for (const maps of ['mean', 'full'] as const) {
      it(`${form}, measured ${maps === 'mean' ? 'inside the graph' : 'from full maps'}, equals its decomposed twin (1e-5), sliding window and padding included`, async () => {
        const fused = await compareForm(form, maps);
        assert.ok(largestDifference(fused.shares, decomposed.shares) < 1e-5);
        assert.ok(largestDifference(fused.changes, decomposed.changes) < 1e-5);
      });
    }
  }

  for (const form of ['gqa', 'gqa-rotary-outside', 'mha', 'onnx-attention'] as const) {
    it(`${form}, its P computed beside the kernel in blocks of 16 queries (a tiny --max-memory-gb), equals its decomposed twin (1e-5)`, async () => {
      const fused = await compareForm(form, 'mean', true, ['--max-memory-gb', '0.000001']);
      assert.deepEqual(fused.blockRows, { a: 16, b: 16 });
      assert.ok(largestDifference(fused.shares, decomposed.shares) < 1e-5);
      assert.ok(largestDifference(fused.changes, decomposed.changes) < 1e-5);
    });
  }

  it('with a soft-cap and interleaved rotary (read off GroupQueryAttention, inside the kernel and before it), each form equals its decomposed twin (1e-5), in whole layers and in blocks', async () => {
    const more = { softcap: 0.3, rotaryInterleaved: true };
    const twin = await compareForm('decomposed', 'full', true, [], more);
    for (const form of ['gqa', 'gqa-rotary-outside'] as const) {
      for (const extra of [[], ['--max-memory-gb', '0.000001']]) {
        const fused = await compareForm(form, 'mean', true, extra, more);
        assert.ok(largestDifference(fused.shares, twin.shares) < 1e-5, `${form} ${extra.join(' ')}`);
      }
    }
    // the cap and the pairing mattered: each alone gives other numbers
    const capOnly = await compareForm('decomposed', 'full', true, [], { softcap: 0.3 });
    const pairsOnly = await compareForm('decomposed', 'full', true, [], { rotaryInterleaved: true });
    assert.ok(largestDifference(capOnly.shares, twin.shares) > 1e-3);
    assert.ok(largestDifference(pairsOnly.shares, twin.shares) > 1e-3);
  });

  it('com.microsoft Attention (q, k and v projected inside the kernel, a model without rotary) equals its decomposed twin (1e-5), in the graph, from full maps and in blocks', async () => {
    const none = { positions: 'none' as const };
    const twin = await compareForm('decomposed', 'full', false, [], none);
    for (const [maps, extra] of [['mean', []], ['full', []], ['mean', ['--max-memory-gb', '0.000001']]] as const) {
      const fused = await compareForm('ms-attention', maps, false, [...extra], none);
      assert.ok(largestDifference(fused.shares, twin.shares) < 1e-5, `${maps} ${extra.join(' ')}`);
      assert.ok(largestDifference(fused.changes, twin.changes) < 1e-5, `${maps} ${extra.join(' ')}`);
    }
    // and without rotary the numbers are others than with it
    assert.ok(largestDifference(twin.shares, (await compareForm('decomposed', 'full', false)).shares) > 1e-3);
  });

  it('gives the value-weighted shares of its decomposed twin (1e-5) from every fused kernel, in whole layers and in blocks', async () => {
    const twin = await compareForm('decomposed', 'mean');
    for (const form of ['gqa', 'gqa-rotary-outside', 'gqa-unpacked', 'mha', 'onnx-attention'] as const) {
      for (const extra of [[], ['--max-memory-gb', '0.000001']]) {
        const fused = await compareForm(form, 'mean', true, extra);
        assert.ok(largestDifference(fused.shares, twin.shares, 'value') < 1e-5, `${form} ${extra.join(' ')}`);
        assert.ok(largestDifference(fused.changes, twin.changes, 'value') < 1e-5, `${form} ${extra.join(' ')}`);
      }
    }
    // com.microsoft Attention projects its values inside the kernel: the third part of its weights
    const none = { positions: 'none' as const };
    const [projectedTwin, projected] = [await compareForm('decomposed', 'mean', false, [], none), await compareForm('ms-attention', 'mean', false, [], none)];
    assert.ok(largestDifference(projected.shares, projectedTwin.shares, 'value') < 1e-5);
    // the value weighting mattered: the lenses differ
    assert.ok(Math.max(...ofLens(twin.shares, 'value').map((r, k) => Math.abs(Number(r.share) - Number(ofLens(twin.shares, 'attention')[k]!.share)))) > 1e-3);
  });

  it('without a window too', async () => {
    const [twin, ...fused] = await Promise.all([compareForm('decomposed', 'mean', false), compareForm('gqa', 'mean', false), compareForm('mha', 'mean', false), compareForm('onnx-attention', 'mean', false)]);
    for (const form of fused) assert.ok(largestDifference(form.shares, twin.shares) < 1e-5);
    // and the window mattered: these are other numbers than with it
    assert.ok(largestDifference(twin.shares, decomposed.shares) > 1e-3);
  });

  it('inspect names the attention kind of each layer', async () => {
    const dir = await synthCheckpoint(path.join(await temporaryFolder(), 'gqa'), { ...SHAPE, attention: 'gqa' });
    const report = await inspectCheckpoint(dir);
    assert.equal(report.attentionSource, 'fused');
    assert.deepEqual(report.layers.map(attentionKind), ['GroupQueryAttention (packed q/k/v, rotary inside, window 6, padding by key)', 'GroupQueryAttention (packed q/k/v, rotary inside, window 6, padding by key)']);
    const kindOf = async (form: AttentionForm): Promise<string | undefined> => attentionKind((await inspectCheckpoint(await synthCheckpoint(path.join(await temporaryFolder(), form), { ...SHAPE, attention: form }))).layers[0]!);
    assert.equal(await kindOf('mha'), 'MultiHeadAttention (separate q/k/v, rotary outside, causal, padding by key, additive mask)');
    assert.equal(await kindOf('onnx-attention'), 'Attention (separate q/k/v by head, rotary outside, causal, boolean mask)');
    const projected = await inspectCheckpoint(await synthCheckpoint(path.join(await temporaryFolder(), 'ms-attention'), { ...SHAPE, slidingWindow: undefined, attention: 'ms-attention', positions: 'none' }));
    assert.equal(attentionKind(projected.layers[0]!), 'com.microsoft Attention (q/k/v projected inside, no rotary, causal, padding by key)');
    assert.deepEqual(report.residualStream, { states: ['gather_4', 'add_47', 'add_82'] });
    const twin = await inspectCheckpoint(await synthCheckpoint(path.join(await temporaryFolder(), 'decomposed'), SHAPE));
    assert.deepEqual(twin.layers.map(attentionKind), ['decomposed', 'decomposed']);
  });
});
