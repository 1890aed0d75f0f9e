import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../../bin/cli.js';
import { keyCellMatrix, mapCells, poolQueryRows } from '../../lib/measure/map-cells.js';
import { attentionMapSvg, poolMap } from '../../lib/render/attention-map.js';
import { synthCheckpoint } from '../../lib/synth/synth-checkpoint.js';
import { decodeModel } from '../../lib/onnx/model.js';
import { reduceAttentionInGraph } from '../../lib/rewrite/reduce-graph.js';
import { openCheckpoint, type Checkpoint } from '../../lib/checkpoint/checkpoint.js';
import { openReducedSession } from '../../lib/runtime/session.js';
import { captureIo, MODELS, ROOT, temporaryFolder } from '../helpers.js';
import { blockRowsFor } from '../../lib/measurers/measurer.js';
import { type ReductionPlan, type ReducedAttention, type ReductionInputs } from '../../lib/rewrite/reduction-plan.js';

// Two sequences of different lengths in one padded pass; key sets: every key, the sink, two targets.
const SEQUENCES = [BigInt64Array.from({ length: 11 }, (_, k) => BigInt(k * 7 + 3)), BigInt64Array.from({ length: 7 }, (_, k) => BigInt(k * 5 + 9))];
const INPUTS: ReductionInputs[] = SEQUENCES.map((s) => {
  const T = s.length;
  const keySets = new Float32Array(T * 4);
  const rollout = new Float32Array(T * 2);
  for (let i = 0; i < T; i++) {
    keySets.set([1, i === 0 ? 1 : 0, i % 3 === 1 ? 1 : 0, i === 4 ? 1 : 0], i * 4);
    rollout.set([i % 3 === 1 ? 1 : 0, i === 4 ? 1 : 0], i * 2);
  }
  return { keySets, rollout };
});

async function reduce(checkpoint: Checkpoint, plan: ReductionPlan): Promise<ReducedAttention[]> {
  const session = await openReducedSession(checkpoint, plan);
  try {
    return await session.run(SEQUENCES, INPUTS);
  } finally {
    await session.release();
  }
}

/** The largest difference between two passes over every reduction. */
function largestDifference(a: readonly ReducedAttention[], b: readonly ReducedAttention[], layer: number): number {
  let largest = 0;
  const compare = (x: Float32Array, y: Float32Array): void => {
    assert.equal(x.length, y.length);
    for (let i = 0; i < x.length; i++) if (Number.isFinite(x[i])) largest = Math.max(largest, Math.abs(x[i]! - y[i]!));
  };
  a.forEach((whole, k) => {
    const blocked = b[k]!;
    compare(whole.mass.data, blocked.mass.data);
    compare(whole.columnSums!.data, blocked.columnSums!.data);
    compare(whole.rollout!.data, blocked.rollout!.data);
    compare(whole.entropy!.data, blocked.entropy!.data);
    compare(whole.means.get(layer)!.data, blocked.means.get(layer)!.data);
  });
  return largest;
}

describe('attention in blocks of queries', function () {
  this.timeout(300_000);
  const cases: Array<[string, () => Promise<string>]> = [
    ['the TorchScript export', async () => path.join(MODELS, 'tiny-legal-base')],
    ['the torch.export (dynamo) export', async () => path.join(MODELS, 'tiny-legal-base-dynamo')],
    ['a synthetic model with a sliding window of 4', async () => synthCheckpoint(path.join(await temporaryFolder(), 'window'), { layers: 3, heads: 8, kvHeads: 2, hidden: 64, vocab: 4096, slidingWindow: 4 })],
  ];
  for (const [name, dir] of cases) {
    it(`gives every reduction of ${name} as whole layers do (1e-5), in blocks of 3, 4 and more than T rows`, async () => {
      const checkpoint = await openCheckpoint(await dir());
      const last = checkpoint.graph.attention.length - 1;
      for (const columnSums of ['weighted', 'plain'] as const) {
        const plan: ReductionPlan = { entropy: true, columnSums, rolloutResidual: 0.5, meanLayers: [last] };
        const whole = await reduce(checkpoint, plan);
        for (const blockRows of [3, 4, 16]) assert.ok(largestDifference(whole, await reduce(checkpoint, { ...plan, blockRows }), last) < 1e-5, `${columnSums}, blocks of ${blockRows}`);
      }
    });
  }

  it('leaves no Softmax of the model in the graph: every layer is a loop over blocks', async () => {
    const checkpoint = await openCheckpoint(path.join(MODELS, 'tiny-legal-base'));
    const graph = decodeModel(reduceAttentionInGraph(await readFile(checkpoint.graphFile), checkpoint.graph.attention, { entropy: true, meanLayers: [], blockRows: 8 })).graph!;
    assert.equal(graph.node!.filter((n) => n.opType === 'Loop').length, checkpoint.graph.attention.length);
    assert.equal(graph.node!.filter((n) => n.opType === 'Softmax').length, 0);
  });

  for (const [name, dir] of cases) {
    it(`makes the mask of ${name} a block's rows at a time, and drops the whole [T, T] mask from the graph`, async () => {
      const checkpoint = await openCheckpoint(await dir());
      const original = decodeModel(await readFile(checkpoint.graphFile)).graph!;
      // the mask: what the first layer adds to its scaled scores right before its Softmax
      const softmax = original.node!.find((n) => n.opType === 'Softmax')!;
      const mask = original.node!.find((n) => n.output?.[0] === softmax.input![0])!.input![1]!;
      const maskNodes = (graph: typeof original): string[] => graph.node!.filter((n) => n.output?.includes(mask)).map((n) => n.opType!);
      assert.equal(maskNodes(original).length, 1);
      const graph = decodeModel(reduceAttentionInGraph(await readFile(checkpoint.graphFile), checkpoint.graph.attention, { entropy: true, meanLayers: [], blockRows: 8 })).graph!;
      assert.deepEqual(maskNodes(graph), []);
      // each loop body makes the mask's rows from its parts, with the op that made the whole mask
      const bodies = graph.node!.filter((n) => n.opType === 'Loop').map((n) => n.attribute![0]!.g!);
      for (const body of bodies) assert.equal(body.node!.filter((n) => n.output![0]!.endsWith(`rows_of.${mask}`)).map((n) => n.opType).join(), maskNodes(original).join());
    });
  }

  it('keeps head-averaged maps pooled into cells, as the report pools whole maps, in whole layers and in blocks', async () => {
    const checkpoint = await openCheckpoint(path.join(MODELS, 'tiny-legal-base'));
    const last = checkpoint.graph.attention.length - 1;
    const plan: ReductionPlan = { entropy: true, columnSums: 'weighted', rolloutResidual: 0.5, meanLayers: [last] };
    const whole = await reduce(checkpoint, plan);
    for (const blockRows of [undefined, 4]) {
      // at most 4 cells a side: 11 tokens in cells of 3, 7 tokens in cells of 2
      const pooled = await reduce(checkpoint, { ...plan, mapCells: 4, ...(blockRows ? { blockRows } : {}) });
      pooled.forEach((result, k) => {
        const T = SEQUENCES[k]!.length;
        const tokens = Array.from({ length: T }, (_, i) => `t${i}`);
        const cells = result.means.get(last)!;
        assert.deepEqual(cells.dims, [4, 4]);
        const expected = poolMap({ map: whole[k]!.means.get(last)!.data, tokens, concept: [] }, 4);
        assert.equal(expected.block, T === 11 ? 3 : 2);
        cells.data.forEach((v, c) => assert.ok(Math.abs(v - expected.value[c]!) < 1e-6, `sequence ${k}, cell ${c}: ${v} against ${expected.value[c]}`));
      });
    }
  });

  it('draws a map kept in cells as the report draws the whole map pooled', () => {
    // a causal, row-stochastic map of 250 tokens: 84 cells of 3 a side
    const T = 250;
    const map = new Float32Array(T * T);
    for (let i = 0; i < T; i++) for (let j = 0; j <= i; j++) map[i * T + j] = ((i * 7 + j * 13) % 11) + 1;
    for (let i = 0; i < T; i++) {
      const row = map.subarray(i * T, (i + 1) * T);
      const total = row.reduce((a, b) => a + b, 0);
      row.forEach((v, j) => (row[j] = v / total));
    }
    const cells = mapCells(T);
    assert.deepEqual(cells, { block: 3, size: 84 });
    // what the graph returns (each row's sums over the cells of keys), then the rows pooled as the session does
    const rowSums = new Float32Array(T * cells.size);
    const keys = keyCellMatrix(T, cells);
    for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) for (let c = 0; c < cells.size; c++) rowSums[i * cells.size + c]! += map[i * T + j]! * keys[j * cells.size + c]!;
    const tokens = Array.from({ length: T }, (_, i) => `t${i}`);
    const kept = { map: poolQueryRows(rowSums, T, cells), tokens, concept: [100, 101], cellTokens: cells.block };
    const drawn = poolMap(kept);
    const expected = poolMap({ map, tokens, concept: [100, 101] });
    assert.deepEqual([drawn.size, drawn.block, drawn.labels, [...drawn.concept]], [expected.size, expected.block, expected.labels, [...expected.concept]]);
    // the drawn (causal) cells alike to float32 precision; above the diagonal the kept cells hold 0
    for (let r = 0; r < drawn.size; r++) for (let c = 0; c < drawn.size; c++) assert.ok(Math.abs(drawn.value[r * drawn.size + c]! - (c <= r ? expected.value[r * drawn.size + c]! : 0)) < 1e-7, `cell ${r}, ${c}`);
    assert.match(attentionMapSvg(kept, 'map'), /84×84 cells: each cell is the mean of a 3×3 block/);
  });

  it('runs short texts as whole layers, long ones in blocks of 128 queries or fewer where the budget asks', () => {
    // 32 heads, 512 tokens: 32 × 512² × 4 bytes = 32 MiB of scores, whole
    assert.equal(blockRowsFor(32, 512, 1, 2 * 1024 ** 3), undefined);
    assert.equal(blockRowsFor(32, 1024, 1, 2 * 1024 ** 3), 128);
    assert.equal(blockRowsFor(32, 16384, 1, 2 * 1024 ** 3), 128);
    // 16,384 tokens in 512 MiB: 8 × 32 × B × 16384 × 4 ≤ 512 MiB gives B = 32
    assert.equal(blockRowsFor(32, 16384, 1, 512 * 1024 ** 2), 32);
    // never fewer than 16, nor blocks longer than the text
    assert.equal(blockRowsFor(32, 1 << 20, 8, 2 * 1024 ** 3), 16);
    assert.equal(blockRowsFor(4, 100, 1, 2 * 1024 ** 3), undefined);
    assert.equal(blockRowsFor(4, 100, 1, 1024), 16);
  });

  it('compare under a tiny memory budget (attention in blocks) writes the results of whole layers', async () => {
    const root = await temporaryFolder();
    const run = async (out: string, ...extra: string[]): Promise<string> => {
      const io = captureIo();
      // a cache folder of its own: blocks give the same passes, so a shared cache would answer the second run
      const argv = ['--quiet', '--cache', path.join(root, `cache-${out}`), 'compare', '--model', `base=${path.join(MODELS, 'tiny-legal-base')}`, '--model', `cpt=${path.join(MODELS, 'tiny-legal-cpt')}`, '--concepts', path.join(ROOT, 'concepts', 'hearsay.yaml'), '--out', path.join(root, out), '--no-report', ...extra];
      assert.equal(await runCli(argv, io), 0, io.err);
      return readFile(path.join(root, out, 'stats.csv'), 'utf8');
    };
    const whole = await run('whole');
    const blocked = await run('blocked', '--max-memory-gb', '0.000001');
    const numbers = (csv: string): number[] => csv.split(/[\n,]/).map(Number).filter(Number.isFinite);
    const [a, b] = [numbers(whole), numbers(blocked)];
    assert.equal(a.length, b.length);
    assert.ok(a.every((v, k) => Math.abs(v - b[k]!) <= 1e-5 * Math.max(1, Math.abs(v))));
    // summary.json says how attention ran: blocks of 16 queries (the least), or whole layers
    const blockRows = async (out: string): Promise<unknown> => (JSON.parse(await readFile(path.join(root, out, 'summary.json'), 'utf8')) as { options: { attentionBlockRows: unknown } }).options.attentionBlockRows;
    assert.deepEqual(await blockRows('blocked'), { base: 16, cpt: 16 });
    assert.deepEqual(await blockRows('whole'), { base: null, cpt: null });
  });
});
