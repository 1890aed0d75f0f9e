import { negativeControlShare } from '../compare/negative-controls.js';
import { escapeHtml } from './html.js';
import type { ChangeSummary, RepresentationsSection, Summary } from '../results/summary-file.js';

const percent = (rate: number): string => `${(100 * rate).toFixed(1)} %`;
const p = (value: number | null | undefined): string => (value === null || value === undefined ? 'n/a' : value < 0.001 ? value.toExponential(1) : value.toPrecision(2));

function attentionSentence(c: ChangeSummary | undefined, alpha: number): string {
  if (!c || c.conceptsBeatingChance === undefined || c.conceptsBeatingChance === null) return 'attention: no concept could be tested';
  const verdict = (c.conceptsPValue ?? 1) < alpha ? 'more than chance gives' : 'no more than chance gives';
  return `attention: <strong>${c.conceptsBeatingChance} of ${c.concepts}</strong> concepts changed more than comparable words of the same texts (chance gives ${c.conceptsExpectedByChance ?? 'n/a'}, p ${p(c.conceptsPValue)}: ${verdict})`;
}

function representationSentence(section: RepresentationsSection | undefined, pair: string, alpha: number): string | undefined {
  if (!section || 'skipped' in section) return undefined;
  const overall = section.changes.find((c) => c.scope === '*' && c.pair === pair)?.overall;
  if (!overall) return undefined;
  const verdict = overall.pValue < alpha ? 'more than chance gives' : 'no more than chance gives';
  return `representations: <strong>${overall.conceptsBeatingChance} of ${overall.concepts}</strong> concepts (chance gives ${overall.expectedByChance.toFixed(1)}, p ${p(overall.pValue)}: ${verdict})`;
}

/**
 * The index's first section: per pair, the change of attention on the concepts, how many
 * concepts changed beyond comparable words by attention and by representations against
 * how many chance gives, and how often the run's own negative controls did.
 */
export function headlineSection(summary: Summary, pairs: readonly string[], variant: { querySet: string; sink: string }): string {
  const alpha = summary.options.alpha;
  const overall = summary.overall.find((r) => r.target === 'concept' && r.querySet === variant.querySet && r.sink === variant.sink);
  const items = pairs.map((pair) => {
    const c = overall?.changes[pair];
    const interval = c?.replication?.meanDelta;
    const mean = c?.meanDelta === null || c?.meanDelta === undefined ? 'n/a' : `${c.meanDelta >= 0 ? '+' : ''}${c.meanDelta.toExponential(2)}`;
    const range = interval && interval.low !== null && interval.high !== null ? ` (95 % over concepts ${interval.low.toExponential(1)} to ${interval.high.toExponential(1)})` : '';
    const attention = negativeControlShare(summary.references?.negativeControls ?? [], pair, variant);
    const states = summary.representations && !('skipped' in summary.representations) ? negativeControlShare(summary.representations.negativeControls ?? [], pair) : undefined;
    const controls = [attention ? `attention ${percent(attention.rate)} of ${attention.words}` : undefined, states ? `representations ${percent(states.rate)} of ${states.words}` : undefined].filter(Boolean).join(', ');
    const lines = [
      `mean change of attention share ${mean}${range}, skewness ${c?.skewness?.toFixed(2) ?? 'n/a'}`,
      attentionSentence(c, alpha),
      representationSentence(summary.representations, pair, alpha),
      controls ? `the run's own negative controls (words of the texts tested as concepts are) beat chance in ${controls} words; a calibrated test gives about ${percent(alpha)}` : undefined,
    ].filter((line): line is string => line !== undefined);
    return `<li class="headline" data-pair="${escapeHtml(pair)}"><strong>${escapeHtml(pair)}</strong>: ${lines.join('; ')}.</li>`;
  });
  return `<h2>Findings</h2>
<p class="muted">The null: legal training changed a concept no more than comparable words of the same texts (matched on position, length, frequency, word pieces and embedding norm). Query set ${escapeHtml(variant.querySet)}, sink ${escapeHtml(variant.sink)}d; alpha ${alpha}.</p>
<ul>${items.join('\n')}</ul>`;
}
