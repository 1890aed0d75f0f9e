import assert from 'node:assert/strict';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import { floatInput } from '../../lib/onnx/build.js';
import { columnSums } from '../../lib/rewrite/reductions/column-sums.js';
import { entropy, entropyOfProbabilities } from '../../lib/rewrite/reductions/entropy.js';
import { headMeanNodes } from '../../lib/rewrite/reductions/head-mean.js';
import { keySetProduct } from '../../lib/rewrite/reductions/key-set-product.js';
import { rolloutStep } from '../../lib/rewrite/reductions/rollout-step.js';
import { scheduleEarly } from '../../lib/rewrite/reductions/schedule.js';
import { KEY_SETS_INPUT, LayerNodes, QUERIES_INPUT, ROLLOUT_INPUT, sharedTensors } from '../../lib/rewrite/reductions/shared.js';
import { maxAbsDifference } from '../helpers.js';
import { type ReductionPlan } from '../../lib/rewrite/reduction-plan.js';

const { onnx: schema } = onnxProto;

// One layer of attention to reduce: 2 heads, 5 tokens, causal, seeded scores.
const H = 2;
const T = 5;
const scores = Float32Array.from({ length: H * T * T }, (_, k) => {
  const [i, j] = [Math.floor(k / T) % T, k % T];
  return j > i ? -1e9 : Math.sin(k * 1.7) * 3;
});
const P = new Float32Array(H * T * T);
for (let r = 0; r < H * T; r++) {
  const row = scores.subarray(r * T, (r + 1) * T);
  const top = Math.max(...row);
  const e = Array.from(row, (z) => Math.exp(z - top));
  const total = e.reduce((a, b) => a + b, 0);
  e.forEach((v, j) => (P[r * T + j] = v / total));
}
const p = (h: number, i: number, j: number): number => P[(h * T + i) * T + j]!;
// Key sets: every key, the sink, a concept on tokens 2–3.
const KEY_SETS = [[0, 1, 2, 3, 4], [0], [2, 3]];
const keySetColumns = Float32Array.from({ length: T * KEY_SETS.length }, (_, k) => (KEY_SETS[k % KEY_SETS.length]!.includes(Math.floor(k / KEY_SETS.length)) ? 1 : 0));
const ROLLOUT = Float32Array.from({ length: T }, (_, j) => (j === 2 || j === 3 ? 1 : 0));

/** Runs one layer's emitted reductions on the probabilities above, in onnxruntime, and returns the outputs asked for. */
async function reduce(plan: ReductionPlan, emit: (nodes: LayerNodes, p: string) => string[]): Promise<Float32Array[]> {
  const shared = sharedTensors(plan, 17);
  const nodes = new LayerNodes(shared, 0);
  const outputs = emit(nodes, 'p');
  const model = schema.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'one-layer',
      node: [{ opType: 'Softmax', input: ['scores'], output: ['p'], attribute: [{ name: 'axis', i: -1, type: 2 }] }, ...shared.prologue.nodes, ...nodes.nodes],
      initializer: shared.constants,
      input: [floatInput('scores', ['batch', 'heads', 'seq', 'keys']), ...shared.inputs],
      output: outputs.map((name) => ({ name })),
    },
  }).finish();
  const session = await ort.InferenceSession.create(model);
  const feeds: Record<string, ort.Tensor> = {
    scores: new ort.Tensor('float32', scores, [1, H, T, T]),
    [KEY_SETS_INPUT]: new ort.Tensor('float32', keySetColumns, [1, T, KEY_SETS.length]),
  };
  if (plan.columnSums === 'weighted') feeds[QUERIES_INPUT] = new ort.Tensor('float32', Float32Array.from({ length: 2 * T }, (_, k) => (k % 2 === 0 || k >= 2 ? 1 : 0)), [1, T, 2]);
  if (plan.rolloutResidual !== undefined) feeds[ROLLOUT_INPUT] = new ort.Tensor('float32', ROLLOUT, [1, T, 1]);
  const result = await session.run(feeds, outputs);
  await session.release();
  return outputs.map((name) => result[name]!.data as Float32Array);
}

const PLAN: ReductionPlan = { entropy: false, meanLayers: [] };

describe('reductions, one emitter each, on one layer of known probabilities', () => {
  it('keySetProduct gives each query\'s mass on every key set: Σ_j P[i, j] over the set', async () => {
    const [mass] = await reduce(PLAN, (nodes, probabilities) => [keySetProduct(nodes, probabilities, {}).mass]);
    const expected = Float32Array.from({ length: H * T * KEY_SETS.length }, (_, k) => {
      const [h, i, s] = [Math.floor(k / (T * KEY_SETS.length)), Math.floor(k / KEY_SETS.length) % T, k % KEY_SETS.length];
      return KEY_SETS[s]!.reduce((a, j) => a + p(h, i, j), 0);
    });
    assert.ok(maxAbsDifference(mass!, expected) < 1e-6);
  });

  it('columnSums plain: Σ_i P[i, j], the mass each key receives', async () => {
    const [sums] = await reduce({ ...PLAN, columnSums: 'plain' }, (nodes, probabilities) => [columnSums(nodes, probabilities, 'plain', keySetProduct(nodes, probabilities, {}))]);
    const expected = Float32Array.from({ length: H * T }, (_, k) => Array.from({ length: T }, (_, i) => p(Math.floor(k / T), i, k % T)).reduce((a, b) => a + b, 0));
    assert.ok(maxAbsDifference(sums!, expected) < 1e-6);
  });

  it('columnSums weighted: the plain sums, and the sums of rows renormalised without the sink, over queries after the first', async () => {
    const [sums] = await reduce({ ...PLAN, columnSums: 'weighted' }, (nodes, probabilities) => [columnSums(nodes, probabilities, 'weighted', keySetProduct(nodes, probabilities, {}))]);
    const expected = new Float32Array(H * 2 * T);
    for (let h = 0; h < H; h++) {
      for (let j = 0; j < T; j++) {
        for (let i = 0; i < T; i++) {
          expected[(h * 2) * T + j]! += p(h, i, j);
          if (i > 0) expected[(h * 2 + 1) * T + j]! += p(h, i, j) / (1 - p(h, i, 0));
        }
      }
    }
    // the sink's column of the renormalised rows is never read
    for (let h = 0; h < H; h++) expected[(h * 2 + 1) * T] = sums![(h * 2 + 1) * T]!;
    assert.ok(maxAbsDifference(sums!, expected) < 1e-5);
  });

  it('rolloutStep: u_1 = (½ mean_h(P·u_0) + ½ u_0) / (½ mean_h(P·1) + ½)', async () => {
    const plan = { ...PLAN, rolloutResidual: 0.5 };
    const [next] = await reduce(plan, (nodes, probabilities) => [rolloutStep(nodes, nodes.shared.rolloutStart, keySetProduct(nodes, probabilities, { rollout: nodes.shared.rolloutStart }))]);
    const expected = Float32Array.from({ length: T }, (_, i) => {
      const spread = Array.from({ length: H }, (_, h) => [2, 3].reduce((a, j) => a + p(h, i, j), 0)).reduce((a, b) => a + b, 0) / H;
      return (0.5 * spread + 0.5 * ROLLOUT[i]!) / (0.5 * 1 + 0.5);
    });
    assert.ok(maxAbsDifference(next!, expected) < 1e-6);
  });

  it('entropy, as ln Z − Σ p·z from the scores, and entropyOfProbabilities, as −Σ p ln p, both give each row\'s entropy', async () => {
    const plan = { ...PLAN, entropy: true };
    const [fromScores] = await reduce(plan, (nodes, probabilities) => [entropy(nodes, { p: probabilities, scores: 'scores', infiniteMasks: false, ...keySetProduct(nodes, probabilities, {}) })]);
    const [fromProbabilities] = await reduce(plan, (nodes, probabilities) => [entropyOfProbabilities(nodes, probabilities)]);
    const expected = Float32Array.from({ length: H * T }, (_, r) => -Array.from({ length: T }, (_, j) => p(Math.floor(r / T), r % T, j)).reduce((a, v) => a + (v > 0 ? v * Math.log(v) : 0), 0));
    assert.ok(maxAbsDifference(fromScores!, expected) < 1e-5, `${maxAbsDifference(fromScores!, expected)}`);
    assert.ok(maxAbsDifference(fromProbabilities!, expected) < 1e-5);
  });

  it('headMeanNodes averages the heads', async () => {
    const [mean] = await reduce(PLAN, (nodes, probabilities) => [headMeanNodes(nodes, probabilities)]);
    const expected = Float32Array.from({ length: T * T }, (_, k) => (P[k]! + P[T * T + k]!) / 2);
    assert.ok(maxAbsDifference(mean!, expected) < 1e-6);
  });
});

describe('scheduleEarly', () => {
  it('feeds each next layer\'s query tensor through Reshape(q, Shape(q) + 0), the 0 computed from this layer\'s outputs; the last layer feeds nothing', () => {
    const layers = [
      { outputs: ['mass.0', 'entropy.0'], fed: 3, fedInput: 'q.0' },
      { outputs: ['mass.1'], fed: 9, fedInput: 'q.1' },
    ];
    const { before, after, renamed } = scheduleEarly(layers, 'zero');
    assert.deepEqual([...before.keys()], [9]);
    assert.deepEqual(before.get(9)!.map((n) => [n.opType, n.input]), [
      ['Shape', ['q.1']],
      ['Add', ['legal_attn.fed_shape.1', 'legal_attn.dependency.0']],
      ['Reshape', ['q.1', 'legal_attn.fed_shape_dependent.1']],
    ]);
    assert.deepEqual([...renamed.get(9)!], [[0, 'legal_attn.fed.1']]);
    assert.deepEqual(after[0]!.map((n) => n.opType), ['ReduceSum', 'ReduceSum', 'Add', 'IsNaN', 'Cast', 'Mul']);
    assert.deepEqual(after[0]!.at(-1)!.input, ['legal_attn.sum_flag.0', 'zero']);
    assert.deepEqual(after[1], []);
  });
});
