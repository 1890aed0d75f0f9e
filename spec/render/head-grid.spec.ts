import assert from 'node:assert/strict';
import * as d3 from 'd3';
import { changeGridSvg, headGridSvg } from '../../lib/render/head-grid.js';
import { parseSvg, texts } from './svg-helpers.js';

// 2 layers × 3 heads
const values = Float64Array.of(0.1, 0.2, 0.3, 0.4, 0.5, 0.6);

describe('headGridSvg', () => {
  const doc = parseSvg(headGridSvg({ values, layers: 2, heads: 3 }, 'Hearsay: share by head, base', [0, 0.6]));

  it('draws one cell per layer and head', () => assert.equal(doc.querySelectorAll('g.cells rect[fill]:not([fill="none"])').length, 6));
  it('gives each cell a tooltip with its exact value', () => {
    const tooltips = texts(doc, 'g.cells rect title');
    assert.equal(tooltips.length, 6);
    assert.equal(tooltips[4], 'L1 H1: 0.5');
  });
  it('has a title, axis labels and a legend with the shared domain', () => {
    assert.equal(doc.querySelector('svg > title')?.textContent, 'Hearsay: share by head, base');
    assert.deepEqual(texts(doc, 'text.axis-label'), ['head', 'layer']);
    assert.deepEqual(texts(doc, 'g.legend text'), ['0.000', '0.300', '0.600', 'attention share']);
    assert.deepEqual(texts(doc, 'g.row-labels text'), ['L0', 'L1']);
  });
  it('colours the lowest and highest value at the ends of the viridis scale', () => {
    const fills = Array.from(doc.querySelectorAll('g.cells rect[fill]:not([fill="none"])'), (r) => r.getAttribute('fill'));
    assert.equal(fills[5], '#fde725');
  });
});

describe('changeGridSvg', () => {
  const delta = Float64Array.of(-0.2, 0, 0.1, 0.05, -0.05, 0.2);
  const p = Float64Array.of(0.01, 1, 0.2, 0.5, 0.04, 0.001);
  // Benjamini–Hochberg over six heads: R's p.adjust(p, "BH")
  const q = Float64Array.of(0.03, 1, 0.3, 0.6, 0.08, 0.006);
  const doc = parseSvg(changeGridSvg({ values: delta, layers: 2, heads: 3 }, { p, q }, 0.05, 'Δ share, cpt:base', 0.2));

  it('centres the diverging scale on zero, symmetric', () => {
    assert.deepEqual(texts(doc, 'g.legend text').slice(0, 3), ['-0.200', '0.000', '0.200']);
    const fills = Array.from(doc.querySelectorAll('g.cells rect[fill]:not([fill="none"])'), (r) => r.getAttribute('fill'));
    assert.equal(fills[1], d3.color(d3.interpolatePuOr(0.5))!.formatHex());
    assert.equal(fills[5], d3.color(d3.interpolatePuOr(0))!.formatHex());
  });
  it('outlines the heads whose q is below alpha (p < alpha alone is not enough) and gives p and q in their tooltip', () => {
    assert.equal(doc.querySelectorAll('rect.marked').length, 2);
    assert.match(texts(doc, 'g.cells rect title')[0]!, /^L0 H0: Δ -0\.2, p 0\.01, q 0\.03 \*$/);
    assert.match(texts(doc, 'g.cells rect title')[4]!, /^L1 H1: Δ -0\.05, p 0\.04, q 0\.08$/);
  });
});
