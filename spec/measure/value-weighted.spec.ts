import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { openCheckpoint, type Checkpoint } from '../../lib/checkpoint/checkpoint.js';
import { findValueProjection } from '../../lib/checkpoint/output-projection.js';
import type { AttentionSite, ValueProjection } from '../../lib/checkpoint/graph-analysis.js';
import type { GraphProto } from '../../lib/onnx/proto.js';
import { measureReduced, reductionLayout } from '../../lib/measure/measure-reduced.js';
import { querySet, type QuerySetKind } from '../../lib/measure/query-set.js';
import type { MeasureOptions, SequenceMeasures } from '../../lib/measure/measure-sequence.js';
import type { ReductionPlan } from '../../lib/rewrite/reduction-plan.js';
import { openReducedSession } from '../../lib/runtime/session.js';
import { pythonOrSkip } from '../checkpoint/exports.js';
import { synthCheckpoint } from '../../lib/synth/synth-checkpoint.js';
import { modelDir, referenceIndex, ROOT, temporaryFolder, type ReferenceProbe } from '../helpers.js';

const TOLERANCE = 1e-5;
const REFERENCE_SCRIPT = path.join(ROOT, 'spec', 'fixtures', 'value-weighted', 'reference.py');
const SILENCE_SCRIPT = path.join(ROOT, 'spec', 'fixtures', 'value-weighted', 'silence-tokens.py');
const QUERY_SETS: readonly QuerySetKind[] = ['all', 'after', 'outside'];
const OPTIONS: MeasureOptions = { querySets: QUERY_SETS, sinks: ['include', 'exclude'], rolloutResidual: 0.5 };

interface ReferenceAnswer {
  norms: number[][][];
  value: number[][][];
  attention: number[][][];
}

const conceptTokens = (probe: ReferenceProbe): number[] => probe.offsets.flatMap(([a, b], t) => (b > a && probe.spans.some(([s, e]) => a < e && b > s) ? [t] : []));

async function reference(python: string, ids: readonly number[], sets: ReadonlyArray<{ keys: number[]; queries: number[] }>): Promise<ReferenceAnswer> {
  const child = promisify(execFile)(python, [REFERENCE_SCRIPT, modelDir('base')], { timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
  child.child.stdin!.end(JSON.stringify({ ids, sets }));
  return JSON.parse((await child).stdout) as ReferenceAnswer;
}

function projectionsOf(checkpoint: Checkpoint): ValueProjection[] {
  return (checkpoint.graph.valueProjections ?? []).map((p) => {
    if ('unread' in p) throw new Error(p.unread);
    return p;
  });
}

/** One probe measured in the graph with the value lens, whole layers or in blocks of queries. */
async function measured(checkpoint: Checkpoint, probe: ReferenceProbe, control: number[], blockRows?: number): Promise<{ measures: SequenceMeasures; norms: Float32Array }> {
  const plan: ReductionPlan = { entropy: true, columnSums: 'weighted', rolloutResidual: 0.5, meanLayers: [], valueWeighted: projectionsOf(checkpoint), ...(blockRows ? { blockRows } : {}) };
  const session = await openReducedSession(checkpoint, plan);
  try {
    const T = probe.ids.length;
    const concept = conceptTokens(probe);
    const layout = reductionLayout(T, [{ start: probe.spans[0]![0], end: probe.spans[0]![1], tokens: concept }], OPTIONS, [{ kind: 'control', tokens: control }]);
    const [reduced] = await session.run([BigInt64Array.from(probe.ids, BigInt)], [layout.inputs]);
    return { measures: measureReduced(reduced!, layout, OPTIONS), norms: reduced!.valueNorms!.data };
  } finally {
    await session.release();
  }
}

describe('value-weighted attention against ‖v_j W_O^h‖ computed from the weights', () => {
  let python: string | undefined;
  let probe: ReferenceProbe;
  let control: number[];
  let expected: ReferenceAnswer;
  let whole: { measures: SequenceMeasures; norms: Float32Array };
  before(async function () {
    python = await pythonOrSkip(this, 'the value-weighted reference');
    probe = (await referenceIndex()).probes[0]!;
    const concept = conceptTokens(probe);
    control = [concept[0]! - 4, concept[0]! - 3];
    const T = probe.ids.length;
    const sets = [concept, control].flatMap((keys) => QUERY_SETS.map((kind) => ({ keys, queries: querySet(kind, T, keys) })));
    expected = await reference(python, probe.ids, sets);
    whole = await measured(await openCheckpoint(modelDir('base')), probe, control);
  });

  it('reads W_O per head off both tiny exports and a fused kernel, and says in one line why not where the heads are merged otherwise', async () => {
    for (const model of ['base', 'base-dynamo'] as const) {
      const checkpoint = await openCheckpoint(modelDir(model));
      const projections = checkpoint.graph.valueProjections ?? [];
      assert.equal(projections.length, checkpoint.graph.attention.length, model);
      for (const p of projections) assert.ok(!('unread' in p), `${model}: ${JSON.stringify(p)}`);
    }
    const fused = await openCheckpoint(await synthCheckpoint(path.join(await temporaryFolder(), 'gqa'), { layers: 2, heads: 8, kvHeads: 2, hidden: 128, attention: 'gqa' }));
    for (const p of fused.graph.valueProjections ?? []) assert.ok(!('unread' in p) && p.values === '', JSON.stringify(p));
    // a 4-bit projection, and a merge that is not heads-major: skipped with the reason, not guessed
    const site: AttentionSite = { layer: 0, label: 'layers.0', node: 'softmax', output: 'p', position: 0, type: 'float32' };
    const merged = (perm: number[], projection: string): GraphProto => ({
      node: [
        { opType: 'MatMul', input: ['p', 'v'], output: ['context'] },
        { opType: 'Transpose', input: ['context'], output: ['moved'], attribute: [{ name: 'perm', ints: perm }] },
        { opType: 'Reshape', input: ['moved', 'shape'], output: ['merged'] },
        { opType: projection, input: ['merged', 'w_o'], output: ['out'] },
      ],
      initializer: [{ name: 'w_o' }],
    });
    assert.deepEqual(findValueProjection(merged([0, 2, 1, 3], 'MatMul'), site), { values: 'v', weight: 'w_o', transposed: false });
    assert.deepEqual(findValueProjection(merged([0, 2, 1, 3], 'MatMulNBits'), site), { unread: 'layers.0: o_proj is MatMulNBits 4-bit blocks; W_O not read per head' });
    assert.deepEqual(findValueProjection(merged([0, 2, 3, 1], 'MatMul'), site), { unread: 'layers.0: the heads are not merged heads-major (Transpose 0,2,1,3 then Reshape); W_O not read per head' });
  });

  it(`the value norms n_h(j) agree with the weights' within ${TOLERANCE} relative`, () => {
    const flat = expected.norms.flat(2);
    assert.equal(whole.norms.length, flat.length);
    const worst = Math.max(...flat.map((n, k) => Math.abs(whole.norms[k]! - n) / Math.max(n, 1e-6)));
    assert.ok(worst < TOLERANCE, `norms differ by up to ${worst} relative`);
  });

  it(`the concept's and a control's value-weighted shares agree within ${TOLERANCE} under every query set, and differ from the plain shares`, () => {
    const heads = whole.measures.heads;
    QUERY_SETS.forEach((kind, q) => {
      const value = whole.measures.measures.find((m) => m.lens === 'value' && m.target === 'concept' && m.querySet === kind && m.sink === 'include')!;
      const plain = whole.measures.measures.find((m) => m.lens === undefined && m.target === 'concept' && m.querySet === kind && m.sink === 'include')!;
      const controls = whole.measures.referenceShares.find((r) => r.lens === 'value' && r.querySet === kind && r.sink === 'include')!;
      const conceptExpected = expected.value[q]!.flat();
      const controlExpected = expected.value[QUERY_SETS.length + q]!.flat();
      for (let k = 0; k < conceptExpected.length; k++) {
        assert.ok(Math.abs(value.share[k]! - conceptExpected[k]!) < TOLERANCE, `${kind} concept, layer ${Math.floor(k / heads)} head ${k % heads}: ${value.share[k]} vs ${conceptExpected[k]}`);
        assert.ok(Math.abs(controls.share[k]! - controlExpected[k]!) < TOLERANCE, `${kind} control, layer ${Math.floor(k / heads)} head ${k % heads}: ${controls.share[k]} vs ${controlExpected[k]}`);
        assert.ok(Math.abs(plain.share[k]! - expected.attention[q]![Math.floor(k / heads)]![k % heads]!) < TOLERANCE, `${kind} plain share`);
      }
      // the lens is not the plain share: the weights move it by far more than the tolerance
      const moved = Math.max(...conceptExpected.map((v, k) => Math.abs(v - plain.share[k]!)));
      assert.ok(moved > 100 * TOLERANCE, `${kind}: the value weighting moves the shares by ${moved} only`);
    });
  });

  it('has neither entropy nor rollout under the value lens', () => {
    const value = whole.measures.measures.filter((m) => m.lens === 'value');
    assert.equal(value.length, whole.measures.measures.length / 2);
    for (const m of value) assert.ok([...m.entropy, ...m.rollout].every(Number.isNaN));
  });

  it('gives the same value-weighted shares in blocks of queries as in whole layers (1e-5)', async () => {
    const blocked = await measured(await openCheckpoint(modelDir('base')), probe, control, 16);
    for (const m of whole.measures.measures) {
      const other = blocked.measures.measures.find((b) => b.lens === m.lens && b.target === m.target && b.querySet === m.querySet && b.sink === m.sink)!;
      m.share.forEach((s, k) => assert.ok(Math.abs(s - other.share[k]!) < 1e-5 || (Number.isNaN(s) && Number.isNaN(other.share[k]!)), `${m.lens ?? 'attention'} ${m.querySet} ${m.sink} ${k}`));
    }
    whole.measures.referenceShares.forEach((r, x) => r.share.forEach((s, k) => assert.ok(Math.abs(s - blocked.measures.referenceShares[x]!.share[k]!) < 1e-5 || Number.isNaN(s), `reference ${r.lens ?? 'attention'} ${r.querySet} ${r.sink}`)));
  });

  it("puts exactly nothing on a concept whose values are zero, where the plain share still sees attention on it", async () => {
    // the concept's embedding rows zeroed: in layer 0 its values vanish, its keys (score 0) are still attended
    const concept = conceptTokens(probe);
    const silenced = path.join(await temporaryFolder(), 'silenced');
    await promisify(execFile)(python!, [SILENCE_SCRIPT, modelDir('base'), silenced, ...new Set(concept.map((t) => String(probe.ids[t])))], { timeout: 300_000 });
    const { measures } = await measured(await openCheckpoint(silenced), probe, control);
    const heads = measures.heads;
    for (const kind of QUERY_SETS) {
      const of = (lens: 'value' | undefined): Float64Array => measures.measures.find((m) => m.lens === lens && m.target === 'concept' && m.querySet === kind && m.sink === 'include')!.share;
      const value = of('value').subarray(0, heads);
      const plain = of(undefined).subarray(0, heads);
      assert.deepEqual([...value], Array.from({ length: heads }, () => 0), `${kind}: layer 0's value-weighted shares`);
      assert.ok(Math.min(...plain) > 0.01, `${kind}: layer 0's plain shares ${[...plain].join(', ')}`);
    }
  });
});

