import assert from 'node:assert/strict';
import * as d3 from 'd3';
import { attentionMapSvg, differenceMapSvg, poolMap } from '../../lib/render/attention-map.js';
import { textWidth } from '../../lib/render/text-width.js';
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
  it('marks the concept tokens on both axes in bold and underlined, never in the colour that means less', () => {
    const attribute = (sel: string, name: string) => Array.from(doc.querySelectorAll(sel), (e) => e.getAttribute(name));
    for (const axis of ['g.row-labels text', 'g.col-labels text']) {
      assert.deepEqual(attribute(axis, 'font-weight'), ['400', '700', '700']);
      assert.deepEqual(attribute(axis, 'text-decoration'), [null, 'underline', 'underline']);
      assert.deepEqual(new Set(attribute(axis, 'fill')), new Set(['#222']));
    }
  });
  it('is wide enough for its note', () => {
    const width = Number(doc.querySelector('svg')?.getAttribute('width'));
    assert.ok(width >= 16 + textWidth(texts(doc, 'text.note')[0]!, 11), `width ${width}`);
  });
  it('gives each cell its value, named by query and key index', () => assert.equal(texts(doc, 'g.cells rect title')[4], '2→1: 0.3'));
  it('colours cells from 128 evenly spaced levels of the scale, the largest value but the sink in its top colour', () => {
    // the sink column (key 0) apart; the rest: 0.5 → level 127, 0.3 → 76.2 → 76
    const classes = Array.from(doc.querySelectorAll('g.cells g rect'), (r) => r.getAttribute('class'));
    assert.deepEqual(classes, ['apart', 'apart', 'p127', 'apart', 'p76', 'p127']);
    const css = doc.querySelector('style')?.textContent ?? '';
    assert.match(css, new RegExp(`\\.p127\\{fill:${d3.color(d3.interpolateViridis(1))!.formatHex()}\\}`));
    assert.match(css, new RegExp(`\\.p76\\{fill:${d3.color(d3.interpolateViridis(76 / 127))!.formatHex()}\\}`));
  });
  it('sets the sink column apart on a grey scale of its own, and says so in a second legend', () => {
    const fills = Array.from(doc.querySelectorAll('g.cells rect.apart'), (r) => r.getAttribute('fill'));
    // 1 → the darkest grey of the sink's scale, 0.2 → lighter
    assert.equal(fills[0], d3.color(d3.interpolateGreys(1))!.formatHex());
    assert.equal(new Set(fills).size, 3);
    const labels = texts(doc, 'g.legend text').filter((t) => /[a-z]/.test(t));
    assert.deepEqual(labels, ['attention, every key but the sink column', 'key 0 (<s>, the attention sink): greys, its own scale']);
  });
});

describe('differenceMapSvg', () => {
  it('uses a diverging scale symmetric around zero', () => {
    const diff = Float32Array.of(0, 0, 0, -0.25, 0.25, 0, 0.1, -0.1, 0);
    const doc = parseSvg(differenceMapSvg({ map: diff, tokens, concept: [1] }, 'Δ'));
    assert.deepEqual(texts(doc, 'g.legend text').slice(0, 3), ['-0.250', '0.000', '0.250']);
  });

  it('draws on a scale shared with other maps when given one, and says its own range by the legend', () => {
    const diff = Float32Array.of(0, 0, 0, -0.05, 0.02, 0, 0.01, -0.01, 0);
    const doc = parseSvg(differenceMapSvg({ map: diff, tokens, concept: [1] }, 'Δ', 0.25));
    assert.deepEqual(texts(doc, 'g.legend text').slice(0, 3), ['-0.250', '0.000', '0.250']);
    assert.ok(texts(doc, 'text').some((t) => t.endsWith('; this map -0.05 to 0.02')));
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
