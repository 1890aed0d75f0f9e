import type { BatchEvent, BatchSummary } from '../lib/commands/batch.js';
import type { CompareSummary } from '../lib/commands/compare.js';
import { formatBytes } from '../lib/commands/inspect.js';
import { negativeControlShare } from '../lib/compare/negative-controls.js';
import { KNOCKOUT_MEASURES } from '../lib/knockout/measure.js';
import { skewnessWords } from '../lib/measure/distribution.js';
import type { ReportSummary } from '../lib/report/build-report.js';
import { measuredRepresentations } from '../lib/results/comparison-files.js';

/** The overall lines of a comparison (compare, measure, demo): per pair and variant, of representations and of knockout. */
export function overallLines(summary: Pick<CompareSummary, 'comparison' | 'representations' | 'knockout' | 'notes'>): string {
  const lines: string[] = summary.notes.map((note) => `note: ${note}`);
  for (const scope of summary.comparison.scopes.filter((s) => s.scope === '*')) {
    if (scope.unmeasurable) {
      lines.push(`  ${scope.variant.lens === 'value' ? 'value-weighted ' : ''}${scope.variant.querySet}/${scope.variant.sink}: not measurable, ${scope.unmeasurable}`);
      continue;
    }
    const outOfMeans = scope.skipped.filter((s) => !scope.sequences.includes(s.sequence)).length;
    const outOfLift = scope.skipped.length - outOfMeans;
    const skipped = `${outOfMeans > 0 ? `; ${outOfMeans} sequence(s) with no query in ${scope.variant.querySet} left out` : ''}${outOfLift > 0 ? `; ${outOfLift} sequence(s) without control runs left out of the lift` : ''}`;
    for (const change of scope.pairs) {
      const d = change.distribution;
      const o = change.overall;
      const beat = o === undefined ? 'no concept could be tested' : `${o.conceptsBeatingChance}/${o.concepts} concepts beat chance (chance gives ${o.expectedByChance.toFixed(1)}, p ${o.pValue.toPrecision(2)})`;
      const controls = negativeControlShare(summary.comparison.negativeControls, change.pair, scope.variant);
      const own = controls ? `; negative controls ${(100 * controls.rate).toFixed(1)}% of ${controls.words} words` : '';
      const target = `${scope.variant.lens === 'value' ? 'value-weighted ' : ''}${scope.variant.target === 'concept' ? '' : `${scope.variant.target} `}`;
      lines.push(`  ${change.pair.padEnd(12)} ${target}${scope.variant.querySet}/${scope.variant.sink}: mean Δ ${d.mean.toExponential(2)}, ${skewnessWords(d.skewness, d.n)}, ${(100 * d.fractionRose).toFixed(0)}% of heads rose, ${beat}${own}${skipped}`);
    }
  }
  const states = measuredRepresentations(summary.representations);
  for (const change of states?.changes.filter((c) => c.scope === '*' && c.overall) ?? []) {
    const o = change.overall!;
    const controls = negativeControlShare(states!.negativeControls, change.pair);
    lines.push(`  ${change.pair.padEnd(12)} representations: ${o.conceptsBeatingChance}/${o.concepts} concepts beat chance (chance gives ${o.expectedByChance.toFixed(1)}, p ${o.pValue.toPrecision(2)})${controls ? `; negative controls ${(100 * controls.rate).toFixed(1)}% of ${controls.words} words` : ''}`);
  }
  lines.push(...knockoutLines(summary.knockout));
  return lines.join('\n');
}

/** Per pair, the knockout tests' overall counts: did the dependence on the concepts change beyond chance? */
function knockoutLines(knockout: CompareSummary['knockout']): string[] {
  const pairs = [...new Set(knockout?.changes.filter((c) => c.model.includes(':')).map((c) => c.model) ?? [])];
  return pairs.map((pair) => {
    const parts = KNOCKOUT_MEASURES.map((measure) => {
      const o = knockout!.changes.find((c) => c.measure === measure && c.model === pair && c.scope === '*')?.overall;
      const controls = negativeControlShare(knockout!.negativeControls.filter((n) => n.measure === measure).map((n) => ({ ...n, pair: n.model })), pair);
      const beat = o ? `${o.conceptsBeatingChance}/${o.concepts} concepts beat chance (chance gives ${o.expectedByChance.toFixed(1)}, p ${o.pValue.toPrecision(2)})` : 'no concept could be tested';
      return `${measure} ${beat}${controls ? `; negative controls ${(100 * controls.rate).toFixed(1)}% of ${controls.words} words` : ''}`;
    });
    return `  ${pair.padEnd(12)} knockout: ${parts.join('; ')}`;
  });
}

/** The machine-readable result of compare and measure: where things are, and the headline numbers. */
export function compareResult(summary: Pick<CompareSummary, 'comparison' | 'out' | 'files' | 'notes'>, report?: ReportSummary) {
  return {
    out: summary.out,
    files: summary.files,
    notes: summary.notes,
    ...(report ? { report: report.index } : {}),
    overall: summary.comparison.scopes
      .filter((s) => s.scope === '*')
      .flatMap((s) =>
        s.pairs.map((c) => ({
          pair: c.pair,
          querySet: s.variant.querySet,
          sink: s.variant.sink,
          lens: s.variant.lens ?? 'attention',
          meanDelta: c.distribution.mean,
          skewness: c.distribution.skewness,
          fractionRose: c.distribution.fractionRose,
          conceptsBeatingChance: c.overall?.conceptsBeatingChance ?? null,
          concepts: c.overall?.concepts ?? null,
          conceptsPValue: c.overall?.pValue ?? null,
          negativeControlRate: negativeControlShare(summary.comparison.negativeControls, c.pair, s.variant)?.rate ?? null,
          heads: c.distribution.n,
        })),
      ),
  };
}

/** Where the HTML report is (compare, report, demo). */
export const reportLine = (report: ReportSummary): string => `report: ${report.index} (${report.files.length} files, ${formatBytes(report.bytes)})\n`;

/** What a run's passes were: traced now, or read from the trace cache. */
const passesOf = (traced: number | undefined): string => (traced === undefined ? '' : traced > 0 ? `, ${traced} sequences traced now` : ', every pass from the trace cache');

/** The runs of a batch, or of merged batch slices, and their count. */
export function batchLines(summary: BatchSummary): string {
  const lines = summary.runs.map((r) => `  ${r.status.padEnd(6)} ${r.name} → ${r.out} (${r.seconds} s${passesOf(r.traced)})${r.reason ? `: ${r.reason}` : ''}`);
  lines.push(`${summary.runs.length} runs: ${summary.ran} ran, ${summary.failed} failed; ${summary.traced} sequences traced now, the rest from the trace cache; ${summary.seconds} s`);
  return `${lines.join('\n')}\n`;
}

/** A line on stderr as the batch goes: checking its runs, a run started, a run ended. */
export function batchEventLine(event: BatchEvent): string {
  if (event.kind === 'checking') return `batch: checking the ${event.runs} run(s) of ${event.manifest} (models, concepts, checkpoints, tokenizers) before any runs\n`;
  if (event.kind === 'started') return `[${event.at}/${event.of}] ${event.run}: started\n`;
  const r = event.result;
  return r.status === 'failed' ? `[${event.at}/${event.of}] ${r.name}: failed after ${r.seconds} s: ${r.reason}\n` : `[${event.at}/${event.of}] ${r.name}: ran in ${r.seconds} s${passesOf(r.traced)}\n`;
}
