import assert from 'node:assert/strict';
import { changeGridSvg, headGridSvg } from '../../lib/render/head-grid.js';
import { textWidth } from '../../lib/render/text-width.js';
import { labelGap, thinLabels, TICK_FONT } from '../../lib/render/tick-labels.js';
import { parseSvg, texts } from './svg-helpers.js';

describe('textWidth', () => {
  it('measures with DejaVu Sans advance widths, bold a fifth wider, other characters an em', () => {
    // "Hi": H 0.75 em + i 0.28 em at 10 px
    assert.equal(textWidth('Hi', 10), 11);
    assert.equal(textWidth('Hi', 10, true), 13);
    assert.equal(textWidth('Δ', 10), 10);
  });
});

describe('thinLabels', () => {
  it('keeps labels at least the gap apart, the highlighted ones first', () => {
    const labels = Array.from({ length: 95 }, (_, k) => `t${k}`);
    const shown = thinLabels(labels, 7, labelGap(labels, 'rows'), new Set([41]));
    const kept = shown.flatMap((s, k) => (s ? [k] : []));
    assert.ok(kept.includes(41));
    for (let k = 1; k < kept.length; k++) assert.ok((kept[k]! - kept[k - 1]!) * 7 >= TICK_FONT + 2, `${kept[k - 1]} and ${kept[k]}`);
    assert.ok(kept.length >= 40, `${kept.length} labels`);
  });
  it('keeps every label where the cells are wide enough, and never a blank one', () => {
    assert.deepEqual(thinLabels(['a', '', 'c'], 14, 12), [true, false, true]);
  });
});

describe('heatmap layout', () => {
  const values = Float64Array.of(0.1, Number.NaN, 0.3, 0.4);
  it('says in the tooltip why a cell has no value', () => {
    const doc = parseSvg(headGridSvg({ values, layers: 2, heads: 2 }, 'share', [0, 0.4]));
    assert.equal(texts(doc, 'g.cells rect title')[1], 'L0 H1: n/a (not measured: no query token of the query set in any of the sequences, so no share)');
    assert.equal(doc.querySelectorAll('g.cells rect.na').length, 1);
  });
  it('is wide enough for its legend and its mark label, measured', () => {
    const p = Float64Array.of(0.01, 0.5, 0.2, 0.04);
    const doc = parseSvg(changeGridSvg({ values, layers: 2, heads: 2 }, { p, q: p }, 0.05, 'Δ share', 0.4));
    const width = Number(doc.querySelector('svg')?.getAttribute('width'));
    const mark = doc.querySelector('text.mark-label');
    assert.ok(Number(mark?.getAttribute('x')) + textWidth(mark?.textContent ?? '', 11) <= width, `mark label in ${width} px`);
  });
});
