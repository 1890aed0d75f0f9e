import { textWidth } from './text-width.js';

/** Tick labels are never drawn smaller than this (px), however small the cells. */
export const TICK_FONT = 10;

/** The longest label drawn; longer ones end in an ellipsis (the tooltip has the cell). */
const MAX_LABEL = 20;

export const clipLabel = (label: string): string => (Array.from(label).length > MAX_LABEL ? `${Array.from(label).slice(0, MAX_LABEL - 1).join('')}…` : label);

/**
 * Which of a row of labels to draw, `cell` px apart, so that no two drawn ones come
 * closer than `gap` px: the highlighted ones (concept tokens) first, then the others
 * in order wherever they fit. Blank labels are never drawn.
 */
export function thinLabels(labels: readonly string[], cell: number, gap: number, highlighted: ReadonlySet<number> = new Set()): boolean[] {
  const step = Math.max(1, Math.ceil((gap - 1e-9) / cell));
  const shown = labels.map(() => false);
  const placed: number[] = [];
  const place = (k: number): void => {
    if (labels[k] === '' || shown[k] || placed.some((p) => Math.abs(p - k) < step)) return;
    shown[k] = true;
    placed.push(k);
  };
  [...highlighted].filter((k) => k < labels.length).sort((a, b) => a - b).forEach(place);
  labels.forEach((_, k) => place(k));
  return shown;
}

/** The px two neighbouring labels need between their anchors: a line of text upright, rotated 60° or side by side. */
export function labelGap(labels: readonly string[], layout: 'rows' | 'rotated' | 'columns'): number {
  if (layout === 'rows') return TICK_FONT + 2;
  // Rotated by 60°, neighbours' baselines lie Δx · sin 60° apart.
  if (layout === 'rotated') return (TICK_FONT + 2) / Math.sin(Math.PI / 3);
  return 6 + Math.max(0, ...labels.map((l) => textWidth(l, TICK_FONT)));
}
