import assert from 'node:assert/strict';
import { attentionMapSvg, differenceMapSvg, poolMap } from '../../lib/render/attention-map.js';
import { parseSvg, texts } from './svg-helpers.js';

const A3 = Float32Array.of(1, 0, 0, 0.5, 0.5, 0, 0.2, 0.3, 0.5);
const tokens = ['<s>', '▁mens\n', 'rea'];

describe('attentionMapSvg', () => {
  const doc = parseSvg(attentionMapSvg({ map: A3, tokens, concept: [1, 2] }, 'Mens rea: layer 5'));

  it('draws only the causal cells, at or below the diagonal', () => assert.equal(doc.querySelectorAll('g.cells rect title').length, 6));
  it('writes tokens on both axes, special characters escaped and newlines shown', () => {
    assert.deepEqual(texts(doc, 'g.row-labels text'), ['<s>', '▁mens⏎', 'rea']);
    assert.deepEqual(texts(doc, 'g.col-labels text'), ['<s>', '▁mens⏎', 'rea']);
    assert.match(doc.querySelector('g.col-labels text')?.getAttribute('transform') ?? '', /rotate\(-60\)/);
  });
  it('highlights the concept tokens on both axes', () => {
    const bold = (sel: string) => Array.from(doc.querySelectorAll(sel), (e) => e.getAttribute('font-weight'));
    assert.deepEqual(bold('g.row-labels text'), ['400', '700', '700']);
    assert.deepEqual(bold('g.col-labels text'), ['400', '700', '700']);
  });
  it('gives each cell its exact value, named by query and key index', () => assert.equal(texts(doc, 'g.cells rect title')[4], '2→1: 0.3'));
});

describe('differenceMapSvg', () => {
  it('uses a diverging scale symmetric around zero', () => {
    const diff = Float32Array.of(0, 0, 0, -0.25, 0.25, 0, 0.1, -0.1, 0);
    const doc = parseSvg(differenceMapSvg({ map: diff, tokens, concept: [1] }, 'Δ'));
    assert.deepEqual(texts(doc, 'g.legend text').slice(0, 3), ['-0.250', '0.000', '0.250']);
  });
});

describe('poolMap', () => {
  it('pools a long sequence into blocks and says so', () => {
    const T = 300;
    const map = new Float32Array(T * T);
    for (let i = 0; i < T; i++) map[i * T] = 1;
    const pooled = poolMap({ map, tokens: Array.from({ length: T }, (_, k) => `t${k}`), concept: [150] });
    assert.equal(pooled.block, 4);
    assert.equal(pooled.size, 75);
    // block (0, 0): rows 0–3, columns 0–3, four ones among 16 cells
    assert.equal(pooled.value[0], 0.25);
    assert.deepEqual([...pooled.concept], [37]);
    const doc = parseSvg(attentionMapSvg({ map, tokens: Array.from({ length: T }, (_, k) => `t${k}`), concept: [150] }, 'long'));
    assert.equal(doc.querySelectorAll('g.cells rect title').length, (75 * 76) / 2);
    assert.match(texts(doc, 'text.note')[0]!, /300 tokens pooled into 75×75 cells: each cell is the mean of a 4×4 block/);
  });
});
