import assert from 'node:assert/strict';
import { randomLcg, randomNormal } from 'd3-random';
import { chanceTest } from '../../lib/compare/chance.js';
import { standardiseByPosition, type SequenceChanges } from '../../lib/compare/position-matched.js';

const round = (values: ArrayLike<number>): number[] => Array.from(values as Float64Array, (v) => Math.round(v * 1e6) / 1e6);

describe('standardiseByPosition', () => {
  // one head; width-1 controls at tokens 2..21 whose Δ falls with log position, ±1 around 10 − 3 ln(position)
  const positions = Array.from({ length: 20 }, (_, k) => k + 2);
  const trend = (position: number): number => 10 - 3 * Math.log(position);
  const controls = Float64Array.from(positions, (t, k) => trend(t) + (k % 2 === 0 ? 1 : -1));
  const atStart = (observed: number): SequenceChanges => ({ observed: Float64Array.of(observed), controls, target: [1], controlSpans: positions.map((t) => [t]) });
  const plainZ = (value: number, of: number[]): number => {
    const mean = of.reduce((a, b) => a + b, 0) / of.length;
    return (value - mean) / Math.sqrt(of.reduce((a, b) => a + (b - mean) ** 2, 0) / (of.length - 1));
  };

  it('reads a span at the start of its sentence against its neighbours\' trend in position, not their plain mean', () => {
    // Δ = 10 lies on the trend at token 1; against the 16 nearest controls' plain mean it would look extreme
    const z = standardiseByPosition(atStart(trend(1)), 1)!;
    assert.ok(Math.abs(z.observed[0]!) < 0.5, `z ${z.observed[0]}`);
    assert.ok(plainZ(trend(1), Array.from(controls.subarray(0, 16))) > 1.5);
  });

  it('measures a one-token target at token 0 too (positions counted from 1)', () => {
    const z = standardiseByPosition({ observed: Float64Array.of(12), controls, target: [0], controlSpans: positions.map((t) => [t]) }, 1)!;
    assert.ok(Number.isFinite(z.observed[0]));
  });

  it('is unchanged when every change is scaled and shifted alike', () => {
    const z = standardiseByPosition(atStart(13), 1)!;
    const scaled = standardiseByPosition({ ...atStart(13 * 0.01 + 2), controls: controls.map((v) => v * 0.01 + 2) }, 1)!;
    assert.deepEqual(round(scaled.observed), round(z.observed));
    assert.deepEqual(round(scaled.controls), round(z.controls));
  });

  it('draws chance from the 40 controls nearest the target, each measured against its own neighbours', () => {
    const many = { observed: Float64Array.of(0), controls: Float64Array.from({ length: 60 }, (_, k) => Math.sin(k)), target: [1], controlSpans: Array.from({ length: 60 }, (_, k) => [k + 2]) };
    const z = standardiseByPosition(many, 1)!;
    assert.equal(z.controlCount, 40);
    // the nearest control (token 2) comes first, measured the same with or without the far ones
    const alone = standardiseByPosition({ ...many, controls: many.controls.slice(0, 40), controlSpans: many.controlSpans.slice(0, 40) }, 1)!;
    assert.equal(alone.controls[0], z.controls[0]);
  });

  it('leaves out of a control\'s neighbours the controls that share a token with it', () => {
    // width-2 runs from token 2 on; the run at 3–4 overlaps the run at 2–3 and carries a huge Δ
    const spans = Array.from({ length: 30 }, (_, k) => [k + 2, k + 3]);
    const values = Float64Array.from(spans, (_, k) => (k === 1 ? 1e6 : Math.sin(k)));
    const z = standardiseByPosition({ observed: Float64Array.of(0), controls: values, target: [0, 1], controlSpans: spans }, 1)!;
    // the run at 2–3 is measured as if the run at 3–4 were not there
    const without = (k: number): boolean => k !== 1;
    const alone = standardiseByPosition({ observed: Float64Array.of(0), controls: values.filter((_, k) => without(k)), target: [0, 1], controlSpans: spans.filter((_, k) => without(k)) }, 1)!;
    assert.deepEqual(round([z.controls[0]!]), round([alone.controls[0]!]));
  });

  it('drops controls whose query set was empty, and gives no baseline with fewer than four', () => {
    const few: SequenceChanges = { observed: Float64Array.of(0), controls: Float64Array.of(1, 2, Number.NaN, Number.NaN, 16, 32), target: [1], controlSpans: [[2], [3], [4], [5], [6], [7]] };
    assert.equal(standardiseByPosition(few, 1), undefined);
    const oneNaN: SequenceChanges = { ...few, controls: Float64Array.of(1, 2, Number.NaN, 8, 16, 32) };
    assert.equal(standardiseByPosition(oneNaN, 1)!.controlCount, 5);
  });
});

describe('chanceTest', () => {
  const sequence = (observed: number, controls: number[]) => ({ observed: Float64Array.of(observed), controls: Float64Array.from(controls), controlCount: controls.length });

  it('enumerates one control per sequence; a concept\'s chance draws are scaled by √n, its observation averaged', () => {
    // one concept, two sequences, one head: observed mean (3 + 1)/2 = 2; draws (a + b)/√2
    const test = chanceTest([[sequence(3, [1, -1]), sequence(1, [2, 0, -2])]], 1, { draws: 100, seed: 1, alpha: 0.05 })!;
    assert.equal(test.draws, 6);
    assert.deepEqual(round(test.effect), [2]);
    // |draws|: 3/√2, 1/√2, 1/√2, 1/√2, 1/√2, 3/√2; two reach 2
    assert.deepEqual(round(test.pValue), round([3 / 7]));
  });

  it('draws seeded combinations when there are more than allowed, the same for the same seed', () => {
    const many = Array.from({ length: 6 }, (_, k) => sequence(k / 10, Array.from({ length: 10 }, (_, c) => c - 4.5)));
    const first = chanceTest([many], 1, { draws: 50, seed: 3, alpha: 0.05 })!;
    assert.equal(first.draws, 50);
    assert.deepEqual(chanceTest([many], 1, { draws: 50, seed: 3, alpha: 0.05 })!.pValue, first.pValue);
    assert.equal(chanceTest([[]], 1, { draws: 50, seed: 3, alpha: 0.05 }), undefined);
  });
});

/**
 * Where the answer is known: concepts whose sequences share the concept's term (a
 * token effect that recurs in each of them), placed near the start where changes are
 * largest, with no concept-specific change (null) or with one planted.
 */
function simulatedConcepts(planted: number, seed: number) {
  const normal = randomNormal.source(randomLcg(seed))(0, 1);
  const heads = 8;
  const tokens = 30;
  return Array.from({ length: 400 }, () => {
    const term = Array.from({ length: heads }, () => normal());
    return Array.from({ length: 3 }, () => {
      const start = 1 + Math.floor(Math.abs(normal()) * 6);
      const spread = (position: number): number => Math.log((tokens + 1) / position);
      const observed = Float64Array.from(term, (u, h) => spread(start) * (u + 0.5 * normal() + (h < 4 ? planted : 0)));
      const spans = Array.from({ length: tokens - 1 }, (_, k) => [k + 1]).filter(([t]) => t !== start);
      const controls = Float64Array.from({ length: spans.length * heads }, (_, k) => spread(spans[Math.floor(k / heads)]![0]!) * (normal() + 0.5 * normal()));
      return standardiseByPosition({ observed, controls, target: [start], controlSpans: spans }, heads)!;
    });
  });
}

function rejectionRate(concepts: ReturnType<typeof simulatedConcepts>, heads: number[]): number {
  let rejected = 0;
  for (const concept of concepts) {
    const p = chanceTest([concept], 8, { draws: 2000, seed: 1, alpha: 0.05 })!.pValue;
    for (const h of heads) rejected += p[h]! < 0.05 ? 1 : 0;
  }
  return rejected / (concepts.length * heads.length);
}

describe('the chance baseline, where the answer is known', () => {
  it('flags about alpha of concept × head tests when nothing concept-specific changed', () => {
    const rate = rejectionRate(simulatedConcepts(0, 11), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.ok(rate > 0.025 && rate < 0.075, `false-positive rate ${rate}`);
  });

  it('finds a change planted on some heads of the concepts, and not the others', () => {
    const concepts = simulatedConcepts(3, 12);
    const power = rejectionRate(concepts, [0, 1, 2, 3]);
    const others = rejectionRate(concepts, [4, 5, 6, 7]);
    assert.ok(power > 0.5, `power ${power}`);
    assert.ok(others < 0.075, `false-positive rate on unplanted heads ${others}`);
  });
});
