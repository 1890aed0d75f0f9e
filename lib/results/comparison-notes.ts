import type { ComparisonAnalysis } from '../compare/analyse-comparison.js';

/**
 * What a user should know of a comparison that the numbers alone hide, one line each:
 * concepts whose structure test has nothing to contrast, and sequences left out of a
 * concept's lift because no control run of their target's width could be measured.
 */
export function comparisonNotes(analysed: Pick<ComparisonAnalysis, 'comparison' | 'structures'>): string[] {
  const notes = [...analysed.structures].flatMap(([id, s]) => (s.note ? [`${id}: ${s.note} (summary.json structure.note).`] : []));
  const seen = new Set<string>();
  for (const scope of analysed.comparison.scopes.filter((s) => s.scope !== '*')) {
    for (const skip of scope.skipped) {
      const key = `${skip.sequence}|${scope.variant.target}`;
      // left out of the lift only (still measured): said once per target, not per query set and sink
      if (!scope.sequences.includes(skip.sequence) || seen.has(key)) continue;
      seen.add(key);
      notes.push(`${skip.sequence}: ${skip.reason} (summary.json skipped).`);
    }
  }
  return notes;
}
