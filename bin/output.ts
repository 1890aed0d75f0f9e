import type { BatchSummary } from '../lib/commands/batch.js';
import type { CompareSummary } from '../lib/commands/compare.js';
import { formatBytes } from '../lib/commands/inspect.js';
import { negativeControlShare } from '../lib/compare/negative-controls.js';
import { skewnessWords } from '../lib/measure/distribution.js';
import type { ReportSummary } from '../lib/report/build-report.js';

/** The overall lines of a comparison (compare, measure, demo): per pair and variant, and of representations. */
export function overallLines(summary: Pick<CompareSummary, 'comparison' | 'representations'>): string {
  const lines: string[] = [];
  for (const scope of summary.comparison.scopes.filter((s) => s.scope === '*')) {
    if (scope.unmeasurable) {
      lines.push(`  ${scope.variant.querySet}/${scope.variant.sink}: not measurable, ${scope.unmeasurable}`);
      continue;
    }
    const skipped = scope.skipped.length > 0 ? `; ${scope.skipped.length} sequence(s) with no query in ${scope.variant.querySet} left out` : '';
    for (const change of scope.pairs) {
      const d = change.distribution;
      const o = change.overall;
      const beat = o === undefined ? 'no concept could be tested' : `${o.conceptsBeatingChance}/${o.concepts} concepts beat chance (chance gives ${o.expectedByChance.toFixed(1)}, p ${o.pValue.toPrecision(2)})`;
      const controls = negativeControlShare(summary.comparison.negativeControls, change.pair, scope.variant);
      const own = controls ? `; negative controls ${(100 * controls.rate).toFixed(1)}% of ${controls.words} words` : '';
      const target = scope.variant.target === 'concept' ? '' : `${scope.variant.target} `;
      lines.push(`  ${change.pair.padEnd(12)} ${target}${scope.variant.querySet}/${scope.variant.sink}: mean Δ ${d.mean.toExponential(2)}, ${skewnessWords(d.skewness, d.n)}, ${(100 * d.fractionRose).toFixed(0)}% of heads rose, ${beat}${own}${skipped}`);
    }
  }
  const states = summary.representations && !('skipped' in summary.representations) ? summary.representations : undefined;
  for (const change of states?.changes.filter((c) => c.scope === '*' && c.overall) ?? []) {
    const o = change.overall!;
    const controls = negativeControlShare(states!.negativeControls, change.pair);
    lines.push(`  ${change.pair.padEnd(12)} representations: ${o.conceptsBeatingChance}/${o.concepts} concepts beat chance (chance gives ${o.expectedByChance.toFixed(1)}, p ${o.pValue.toPrecision(2)})${controls ? `; negative controls ${(100 * controls.rate).toFixed(1)}% of ${controls.words} words` : ''}`);
  }
  return lines.join('\n');
}

/** The machine-readable result of compare and measure: where things are, and the headline numbers. */
export function compareResult(summary: Pick<CompareSummary, 'comparison' | 'out' | 'files'>, report?: ReportSummary) {
  return {
    out: summary.out,
    files: summary.files,
    ...(report ? { report: report.index } : {}),
    overall: summary.comparison.scopes
      .filter((s) => s.scope === '*')
      .flatMap((s) =>
        s.pairs.map((c) => ({
          pair: c.pair,
          querySet: s.variant.querySet,
          sink: s.variant.sink,
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

/** The runs of a batch, or of merged batch slices, and their count. */
export function batchLines(summary: BatchSummary): string {
  const lines = summary.runs.map((r) => `  ${r.status.padEnd(6)} ${r.name} → ${r.out} (${r.seconds} s)${r.reason ? `: ${r.reason}` : ''}`);
  lines.push(`${summary.runs.length} runs: ${summary.done} done, ${summary.cached} cached, ${summary.failed} failed; ${summary.traced} sequences traced now; ${summary.seconds} s`);
  return `${lines.join('\n')}\n`;
}
