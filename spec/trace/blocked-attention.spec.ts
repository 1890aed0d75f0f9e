import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../../bin/cli.js';
import { blockRowsFor } from '../../lib/measurers.js';
import { synthCheckpoint } from '../../lib/synth/synth-checkpoint.js';
import { decodeModel } from '../../lib/trace/onnx-model.js';
import { reduceAttentionInGraph, type ReductionPlan } from '../../lib/trace/reduce-graph.js';
import { openCheckpoint, type Checkpoint } from '../../lib/trace/checkpoint.js';
import { openReducedSession, type ReducedAttention, type ReductionInputs } from '../../lib/trace/session.js';
import { captureIo, MODELS, ROOT, temporaryFolder } from '../helpers.js';

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

  it('chooses whole layers while they fit the budget, else blocks that do', () => {
    // 32 heads, 1,024 tokens: 3 × 32 × 1024² × 4 bytes = 384 MiB fits 2 GiB
    assert.equal(blockRowsFor(32, 1024, 1, 2 * 1024 ** 3), undefined);
    // 16,384 tokens: 8 × 32 × B × 16384 × 4 ≤ 2 GiB gives B = 128
    assert.equal(blockRowsFor(32, 16384, 1, 2 * 1024 ** 3), 128);
    assert.equal(blockRowsFor(32, 1 << 20, 8, 2 * 1024 ** 3), 16);
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
