import assert from 'node:assert/strict';
import { randomLcg } from 'd3-random';
import path from 'node:path';
import { structureTest, type ComponentPair, type ConceptPairs } from '../../lib/compare/structure-test.js';
import { loadConcepts } from '../../lib/concepts/load-concepts.js';
import { componentTokens } from '../../lib/measure/component-attention.js';
import { declaredPairs } from '../../lib/measure/structure.js';
import { loadTokenizer, tokenizeSequence } from '../../lib/tokenize/tokenizer.js';
import { MODELS, ROOT } from '../helpers.js';

const options = { permutations: 2000, seed: 1, alpha: 0.05 };

/**
 * Concepts of three or four components in a chain (each declared to relate to the
 * next), laid out in that order in each sequence at random gaps, as annotated legal
 * definitions usually are; attention between two components is a recency kernel
 * exp(−distance / 3), plus `planted` on declared pairs.
 */
function chainConcepts(planted: number, seed: number): ConceptPairs[] {
  const random = randomLcg(seed);
  return Array.from({ length: 14 }, (_, c) => {
    const n = 3 + (c % 2);
    const declared = new Set(Array.from({ length: n - 1 }, (_, k) => `${k}|${k + 1}`));
    const pairs: ComponentPair[] = [];
    for (let s = 0; s < 3; s++) {
      const centres: number[] = [];
      for (let k = 0, at = 1; k < n; k++, at += 2 + Math.floor(random() * 8)) centres.push(at);
      for (let a = 0; a < n; a++) {
        for (let b = a + 1; b < n; b++) {
          const distance = centres[b]! - centres[a]!;
          const value = Math.exp(-distance / 3) + 0.02 * (random() - 0.5) + (declared.has(`${a}|${b}`) ? planted : 0);
          pairs.push({ a, b, distance, sizes: 2, value });
        }
      }
    }
    return { concept: `c${c}`, components: n, declared, pairs };
  });
}

describe('structureTest', () => {
  it('does not take a content-free recency pattern for structure, though declared neighbours get more attention', () => {
    const concepts = chainConcepts(0, 3);
    const declared = concepts.flatMap((c) => c.pairs.filter((p) => c.declared.has(`${p.a}|${p.b}`)).map((p) => p.value));
    const others = concepts.flatMap((c) => c.pairs.filter((p) => !c.declared.has(`${p.a}|${p.b}`)).map((p) => p.value));
    const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
    assert.ok(mean(declared) - mean(others) > 0.1, 'the raw alignment is positive');
    const test = structureTest(concepts, options)!;
    assert.ok(test.pValue! > 0.05, `pooled p ${test.pValue}`);
  });

  it('finds structure planted on the declared pairs, pooled over concepts', () => {
    const test = structureTest(chainConcepts(0.05, 4), options)!;
    assert.ok(test.pValue! < 0.01, `pooled p ${test.pValue}`);
    assert.equal(test.concepts, 14);
  });

  it('says when a concept alone cannot reach alpha: three components give 3! = 6 relabellings, p ≥ 1/6', () => {
    const concepts = chainConcepts(0.05, 4);
    const alone = structureTest([concepts[0]!], options, concepts)!;
    assert.equal(alone.draws, 6);
    assert.equal(alone.smallestPossible, 1 / 6);
    assert.equal(alone.pValue, null);
  });

  it('counts the relabellings as aligned as the observation, itself included: p = #/N over all of them', () => {
    // one concept, three components, the declared pair 0–1 at the same distance as the others: 2 of 6 relabellings put it on 0–1
    const pairs: ComponentPair[] = [
      { a: 0, b: 1, distance: 2, sizes: 1, value: 0.5 },
      { a: 0, b: 2, distance: 2, sizes: 1, value: 0.1 },
      { a: 1, b: 2, distance: 2, sizes: 1, value: 0.3 },
    ];
    const test = structureTest([{ concept: 'x', components: 3, declared: new Set(['0|1']), pairs }], { ...options, alpha: 0.5 })!;
    // residuals from the mean 0.3: 0.2, −0.2, 0; statistic 0.2 − (−0.1) = 0.3
    assert.ok(Math.abs(test.statistic - 0.3) < 1e-12);
    assert.equal(test.pValue, 2 / 6);
  });
});

describe('structureTest on the shipped concepts\' own positions', () => {
  /** Each structured concept's component pairs as they lie in its sequences, valued by `kernel` of their distance. */
  async function shippedPairs(kernel: (distance: number, declared: boolean) => number): Promise<ConceptPairs[]> {
    const concepts = (await loadConcepts(path.join(ROOT, 'concepts'))).filter((c) => c.components && c.structure?.length);
    const tokenizer = await loadTokenizer(path.join(MODELS, 'tiny-legal-base'));
    const out: ConceptPairs[] = [];
    for (const concept of concepts) {
      const index = new Map(concept.components!.map((c, k) => [c, k]));
      const declared = declaredPairs({ components: concept.components!, edges: concept.structure! }, index);
      const pairs: ComponentPair[] = [];
      for (const sequence of concept.sequences.filter((s) => !s.paraphraseOf)) {
        const parts = componentTokens((await tokenizeSequence(tokenizer, sequence.text, sequence.spans, sequence.id)).spans);
        const centre = (t: number[]): number => t.reduce((a, b) => a + b, 0) / t.length;
        for (const x of parts) {
          for (const y of parts) {
            const [a, b] = [index.get(x.label)!, index.get(y.label)!];
            if (a === undefined || b === undefined || b <= a) continue;
            const distance = Math.abs(centre(x.tokens) - centre(y.tokens));
            pairs.push({ a, b, distance, sizes: x.tokens.length * y.tokens.length, value: kernel(distance, declared.has(`${a}|${b}`)) });
          }
        }
      }
      out.push({ concept: concept.id, components: concept.components!.length, declared, pairs });
    }
    return out;
  }

  it('does not take the recency kernel exp(−d/3) for structure, and finds a declared-pair bonus of 0.05', async () => {
    const recency = await shippedPairs((d) => Math.exp(-d / 3));
    assert.ok(recency.length >= 10, `${recency.length} structured concepts`);
    const test = structureTest(recency, options)!;
    assert.ok(test.pValue! > 0.05);
    const planted = await shippedPairs((d, declared) => Math.exp(-d / 3) + (declared ? 0.05 : 0));
    assert.ok(structureTest(planted, options)!.pValue! < 0.01);
  });
});
