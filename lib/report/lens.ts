import type { Lens } from '../measure/measure-sequence.js';
import { escapeHtml } from './html.js';
import { LENS_LABELS, type ReportBuilder } from './report-builder.js';

/** The folder of a lens's pages inside the report: the attention lens, the default, at the top. */
export const lensFolder = (lens: Lens): string => (lens === 'attention' ? '' : `${lens}/`);

/** Why the run has no value lens, or undefined where it has one. */
export function valueLensMissing(report: ReportBuilder): string | undefined {
  const { summary } = report.results;
  if (summary.overall.some((r) => r.lens === 'value')) return undefined;
  const why = summary.options.valueWeighted;
  return why && why !== 'measured' ? why : 'this results folder holds no scope of the value lens (written before it was measured)';
}

/**
 * The line at the top of every page that switches lens: the same page through the
 * other lens, or, where the run has no value lens, why, in one line.
 */
export function lensChoice(report: ReportBuilder, file: string): string {
  const missing = valueLensMissing(report);
  if (missing !== undefined) return `<p class="muted lens-choice">Lens: ${LENS_LABELS.attention}. The ${LENS_LABELS.value} lens was not measured: ${escapeHtml(missing)}.</p>`;
  const here = report.variant.lens;
  const up = here === 'attention' ? '' : '../';
  const links = (['attention', 'value'] as const).map((lens) => (lens === here ? `<strong data-lens="${lens}">${LENS_LABELS[lens]}</strong>` : `<a data-lens="${lens}" href="${up}${lensFolder(lens)}${escapeHtml(file)}">${LENS_LABELS[lens]}</a>`));
  return `<p class="muted lens-choice">Lens: ${links.join(' · ')}</p>`;
}
