import assert from 'node:assert/strict';
import { describeDistribution } from '../../lib/measure/distribution.js';
import { componentMatrixSvg } from '../../lib/render/component-matrix.js';
import { distributionSvg } from '../../lib/render/histogram.js';
import { layerCurvesSvg } from '../../lib/render/layer-curves.js';
import { parseSvg, texts } from './svg-helpers.js';

describe('distributionSvg', () => {
  const a = Float64Array.of(-0.02, -0.01, 0, 0.01, 0.03, 0.04);
  const b = Float64Array.of(0.01, 0.01, 0.02);
  const doc = parseSvg(distributionSvg([{ pair: 'cpt:base', values: a, distribution: describeDistribution(a) }, { pair: 'ift:cpt', values: b, distribution: describeDistribution(b) }], 'changes'));

  it('draws one panel per pair whose bars count every head', () => {
    const panels = doc.querySelectorAll('g.panel');
    assert.equal(panels.length, 2);
    const heads = (panel: Element) => Array.from(panel.querySelectorAll('rect.bar title'), (t) => Number(/: (\d+) heads$/.exec(t.textContent ?? '')?.[1])).reduce((x, y) => x + y, 0);
    assert.equal(heads(panels[0]!), 6);
    assert.equal(heads(panels[1]!), 3);
  });
  it('writes mean, median, skewness and kurtosis on each panel', () => {
    const stats = texts(doc, 'g.panel text.stat');
    // mean 0.05/6, median (0 + 0.01)/2
    assert.ok(stats.includes('mean 8.3e-3, median 5.0e-3'), stats.join(' | '));
    assert.ok(stats.some((s) => /^skewness g1 /.test(s)) && stats.some((s) => /^excess kurtosis g2 /.test(s)));
  });
});

describe('layerCurvesSvg', () => {
  it('draws one line per model, with a legend and a tooltip per point', () => {
    const doc = parseSvg(layerCurvesSvg([{ model: 'base', values: [0.1, 0.2, 0.15] }, { model: 'cpt', values: [0.12, 0.18, 0.2] }], 'share by layer'));
    assert.equal(doc.querySelectorAll('path.curve').length, 2);
    assert.deepEqual(texts(doc, 'text.legend-label'), ['base', 'cpt']);
    assert.equal(texts(doc, 'circle title')[4], 'cpt, layer 1: 0.18');
  });
});

describe('componentMatrixSvg', () => {
  it('draws components × components with labels and exact values', () => {
    const doc = parseSvg(componentMatrixSvg({ components: ['duty', 'breach'], values: Float64Array.of(0.5, 0, 0.25, 0.1) }, 'negligence', false, 0.5));
    assert.equal(doc.querySelectorAll('g.cells rect title').length, 4);
    assert.equal(texts(doc, 'g.cells rect title')[2], 'breach → duty: 0.25');
  });
});
