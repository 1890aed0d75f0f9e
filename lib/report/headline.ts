import { negativeControlShare } from '../compare/negative-controls.js';
import { skewnessUndefined } from '../measure/distribution.js';
import { escapeHtml } from './html.js';
import type { ChangeSummary, RepresentationsSection, Summary } from '../results/summary-file.js';
import { isOfVariant, LENS_LABELS, type ReportVariant } from './report-builder.js';

type Concepts = Summary['concepts'];

/** The measure of a lens in a sentence. */
const attentionOf = (variant: ReportVariant): string => (variant.lens === 'value' ? 'value-weighted attention' : 'attention');
const percent = (rate: number): string => `${(100 * rate).toFixed(1)} %`;
const p = (value: number | null | undefined): string => (value === null || value === undefined ? 'not defined' : value < 0.001 ? value.toExponential(1) : value.toPrecision(2));
const signed = (v: number): string => `${v > 0 ? '+' : v < 0 ? '−' : ''}${Math.abs(v).toExponential(2)}`;
/** A value that cannot be given, with the reason: never NaN, never a bare n/a. */
const notDefined = (why: string): string => `<span class="undefined" title="${escapeHtml(why)}">not defined (${escapeHtml(why)})</span>`;
const defined = (v: number | null | undefined): v is number => v !== null && v !== undefined && Number.isFinite(v);

function meanCell(c: ChangeSummary | undefined): string {
  if (!defined(c?.meanDelta)) return notDefined('no head was measured on this pair');
  const interval = c.replication?.meanDelta;
  const range = interval && defined(interval.low) && defined(interval.high) ? `<br><small>95 % over concepts <span style="white-space: nowrap">[${signed(interval.low)}, ${signed(interval.high)}]</span></small>` : `<br><small>${notDefined('no interval: fewer than five concepts to resample')}</small>`;
  return `<span class="${c.meanDelta > 0 ? 'rose' : 'fell'}">${signed(c.meanDelta)}</span>${range}`;
}

const skewCell = (c: ChangeSummary | undefined): string => (defined(c?.skewness) ? c.skewness.toFixed(2) : notDefined(skewnessUndefined(c?.heads ?? 0)));

function conceptsCell(c: ChangeSummary | undefined, alpha: number): string {
  if (!c || !defined(c.conceptsBeatingChance)) return notDefined('no concept could be tested: too few negative-control words recur as often as the concepts');
  const beyond = (c.conceptsPValue ?? 1) < alpha;
  return `<strong>${c.conceptsBeatingChance} of ${c.concepts}</strong>; chance alone gives ${c.conceptsExpectedByChance ?? 'not defined'} (p ${p(c.conceptsPValue)}: ${beyond ? 'more than chance' : 'no more than chance'})`;
}

/** Heads beyond chance: summed over the concepts whose heads were tested (each concept is tested against the negative controls of its own number of sequences). */
function headsCell(concepts: Concepts, pair: string, variant: ReportVariant): string {
  const tested = concepts.flatMap((concept) => {
    const c = concept.results.find((r) => isOfVariant(r, variant))?.changes[pair];
    return c && defined(c.headsBeatingChance) && defined(c.expectedByChance) ? [c] : [];
  });
  if (tested.length === 0) return notDefined('no concept had enough negative-control words to test its heads');
  const heads = tested.reduce((n, c) => n + c.heads, 0);
  const beat = tested.reduce((n, c) => n + c.headsBeatingChance!, 0);
  const expected = tested.reduce((n, c) => n + c.expectedByChance!, 0);
  return `<strong>${beat} of ${heads}</strong> (${tested.length} concepts × heads); chance alone gives ${expected.toFixed(1)}`;
}

function controlsCell(summary: Summary, pair: string, variant: ReportVariant): string {
  const attention = negativeControlShare(summary.references?.negativeControls ?? [], pair, variant);
  const states = summary.representations && !('skipped' in summary.representations) ? negativeControlShare(summary.representations.negativeControls ?? [], pair) : undefined;
  const parts = [attention ? `${attentionOf(variant)} ${percent(attention.rate)} of ${attention.words} words` : undefined, states ? `representations ${percent(states.rate)} of ${states.words} words` : undefined].filter(Boolean);
  return parts.length > 0 ? parts.join('<br>') : notDefined('this run measured no negative-control words');
}

function representationCell(section: RepresentationsSection | undefined, pair: string, alpha: number): string {
  if (!section) return notDefined('representations were not measured');
  if ('skipped' in section) return notDefined(section.skipped);
  const overall = section.changes.find((c) => c.scope === '*' && c.pair === pair)?.overall;
  if (!overall) return notDefined('no concept could be tested');
  return `<strong>${overall.conceptsBeatingChance} of ${overall.concepts}</strong>; chance alone gives ${overall.expectedByChance.toFixed(1)} (p ${p(overall.pValue)}: ${overall.pValue < alpha ? 'more than chance' : 'no more than chance'})`;
}

/** Which way the per-head changes lean, in words. */
function skewWords(c: ChangeSummary | undefined): string {
  if (!defined(c?.skewness)) return `the skew of its per-head changes is not defined (${skewnessUndefined(c?.heads ?? 0)})`;
  const tail = c.skewness > 0 ? 'a few heads rose far more than the rest' : c.skewness < 0 ? 'a few heads fell far more than the rest' : 'the changes are symmetric';
  return `its per-head changes are skewed ${c.skewness.toFixed(2)} (${tail})`;
}

/** The study's finding restated with this run's numbers: per pair the direction of mean Δ and its skew, then how the skew moved along the lineage. */
function answer(summary: Summary, pairs: readonly string[], changes: ReadonlyMap<string, ChangeSummary | undefined>, alpha: number, variant: ReportVariant): string {
  const sentences = pairs.map((pair) => {
    const [after = '', before = ''] = pair.split(':');
    const c = changes.get(pair);
    const direction = defined(c?.meanDelta) ? `${c.meanDelta > 0 ? 'raised' : c.meanDelta < 0 ? 'lowered' : 'left unchanged'} ${attentionOf(variant)} to the concepts (mean Δ ${signed(c.meanDelta)})` : 'left no measured change (mean Δ not defined: no head was measured)';
    const beyond = defined(c?.conceptsBeatingChance)
      ? `; ${c.conceptsBeatingChance} of ${c.concepts} concepts changed more than comparable words of the same texts, where chance alone gives ${c.conceptsExpectedByChance ?? 'not defined'}: ${(c.conceptsPValue ?? 1) < alpha ? 'more than chance' : 'no more than chance'}`
      : '';
    return `<li data-pair="${escapeHtml(pair)}"><strong>${escapeHtml(after)}</strong> against <strong>${escapeHtml(before)}</strong> ${direction}; ${skewWords(c)}${beyond}.</li>`;
  });
  // Along the lineage: where one pair's later model is the next pair's earlier one.
  const moves = pairs.flatMap((first) =>
    pairs
      .filter((second) => second.split(':')[1] === first.split(':')[0])
      .map((second) => {
        const [a, b] = [changes.get(first)?.skewness, changes.get(second)?.skewness];
        const [x, y] = [first, second].map((pair) => changes.get(pair));
        const value = (v: number | null | undefined, c: ChangeSummary | undefined): string => (defined(v) ? v.toFixed(2) : `not defined (${skewnessUndefined(c?.heads ?? 0)})`);
        return `<li data-pairs="${escapeHtml(`${first} ${second}`)}">from ${escapeHtml(first)} to ${escapeHtml(second)} the skew of the per-head changes moved from ${value(a, x)} to ${value(b, y)}.</li>`;
      }),
  );
  const models = summary.models.length;
  return `<ul class="answer">${sentences.join('')}${moves.join('')}</ul><p class="muted">${models} models, ${summary.concepts.length} concepts; Δ is the later model's ${variant.lens === 'value' ? 'value-weighted share' : 'attention share'} on a concept minus the earlier one's, per head, averaged over heads and concepts.</p>`;
}

/**
 * The index's first section, the answer before any table: per pair the mean change of
 * attention on the concepts with its interval, its skew, how many concepts and heads
 * changed beyond comparable words against how many chance alone gives, and how often
 * the run's own negative controls did; the numbers compare prints, from summary.json.
 */
export function headlineSection(summary: Summary, pairs: readonly string[], variant: ReportVariant): string {
  const alpha = summary.options.alpha;
  const overall = summary.overall.find((r) => isOfVariant(r, variant));
  const changes = new Map(pairs.map((pair) => [pair, overall?.changes[pair]]));
  const rows = pairs.map((pair) => {
    const c = changes.get(pair);
    return `<tr class="headline" data-pair="${escapeHtml(pair)}"><td>${escapeHtml(pair)}</td><td class="mean">${meanCell(c)}</td><td class="skew">${skewCell(c)}</td><td class="concepts text">${conceptsCell(c, alpha)}</td><td class="heads text">${headsCell(summary.concepts, pair, variant)}</td><td class="controls text">${controlsCell(summary, pair, variant)}</td><td class="representations text">${representationCell(summary.representations, pair, alpha)}</td></tr>`;
  });
  return `<h2 id="findings">Findings</h2>
${answer(summary, pairs, changes, alpha, variant)}
<table class="findings"><thead><tr><th>pair</th><th>mean Δ of ${variant.lens === 'value' ? 'value-weighted share' : 'attention share'}</th><th>skewness of per-head Δ</th><th>concepts beyond chance (${attentionOf(variant)})</th><th>heads beyond chance</th><th>the run's own false-positive rate (negative controls)</th><th>concepts beyond chance (representations)</th></tr></thead><tbody>${rows.join('')}</tbody></table>
<p class="muted">The null: legal training changed a concept no more than comparable words of the same texts (matched on position, length, frequency, word pieces and embedding norm). Negative controls: words of the texts that are no concept, tested exactly as the concepts are; a calibrated test finds about ${percent(alpha)} of them. Lens ${LENS_LABELS[variant.lens]}, query set ${escapeHtml(variant.querySet)}, sink ${escapeHtml(variant.sink)}d; alpha ${alpha}.</p>`;
}
