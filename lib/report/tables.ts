import { escapeHtml, naCell, numberCell, slug } from './html.js';
import { type ChangeSummary, type Results, type RobustnessSummary, type StructureTestSummary, type Summary } from '../results/summary-file.js';

type ConceptEntry = Results['summary']['concepts'][number];

/** Heads beating chance, starred when their number is itself beyond chance. */
export function beatChanceCell(c: ChangeSummary | undefined, alpha: number): string {
  if (!c || c.headsBeatingChance === null) return naCell('no chance test of the heads: fewer than 20 negative-control words recur in as many sequences as this concept has');
  const beyond = c.countPValue !== null && c.countPValue !== undefined && c.countPValue < alpha;
  const title = `${c.headsBeatingChance} of ${c.heads} heads at p < ${alpha}; about ${c.expectedByChance ?? 'n/a'} by chance; count p ${c.countPValue ?? 'n/a'}`;
  return `<td data-value="${c.headsBeatingChance}" title="${escapeHtml(title)}">${c.headsBeatingChance}${beyond ? ' <strong>*</strong>' : ''}</td>`;
}

/** A bootstrap interval, or n/a with too few units. */
export function intervalCell(interval: { low: number | null; high: number | null } | undefined): string {
  if (!interval || interval.low === null || interval.high === null) return naCell('no bootstrap interval: fewer than five sequences to resample');
  return `<td data-value="${interval.low}">[${interval.low.toExponential(1)}, ${interval.high.toExponential(1)}]</td>`;
}

/** One concept's mean Δ and finding under each choice measured, per pair. */
export function conceptChoices(robustness: readonly RobustnessSummary[], pairs: readonly string[]): string {
  const choices = robustness[0]?.choices ?? [];
  if (choices.length < 2) return '';
  const rows = choices.map((choice, k) => {
    const cells = pairs.map((pair) => {
      const c = robustness.find((r) => r.pair === pair)?.choices[k];
      return `${numberCell(c?.meanDelta, 4, true)}<td>${c?.found === null || c?.found === undefined ? 'n/a' : c.found ? 'beyond chance' : '—'}</td>`;
    });
    return `<tr><td class="text">${escapeHtml(`${choice.target} ${choice.querySet}/${choice.sink}`)}</td>${cells.join('')}</tr>`;
  });
  const verdicts = pairs.map((pair) => {
    const r = robustness.find((x) => x.pair === pair);
    return `<td class="text">${escapeHtml(r?.direction ?? 'n/a')}</td><td class="text">${escapeHtml(r?.beyondChance ?? 'n/a')}</td>`;
  });
  return `<h3>Under each choice</h3><table><thead><tr><th>span rule, query set / sink</th>${pairs.map((p) => `<th>mean Δ ${escapeHtml(p)}</th><th>${escapeHtml(p)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}<tr><td class="text"><strong>holds?</strong></td>${verdicts.join('')}</tr></tbody></table>`;
}

/** Per pair: over the concepts, how many keep the direction of mean Δ and the count test under every choice measured. */
export function robustnessTable(summary: Summary, pairs: readonly string[]): string {
  const choices = summary.overallRobustness?.[0]?.choices ?? [];
  if (choices.length < 2) return '<p class="muted">One span rule, query set and sink were measured; run with several (<code>--span-tokens overlap,majority --query-sets all,after --sink exclude</code>) to see which conclusions hold under all of them.</p>';
  const rows = pairs.map((pair) => {
    const verdicts = summary.concepts.flatMap((c) => c.robustness?.filter((r) => r.pair === pair) ?? []);
    const count = (test: (r: RobustnessSummary) => boolean): number => verdicts.filter(test).length;
    const overall = summary.overallRobustness?.find((r) => r.pair === pair);
    return `<tr><td>${escapeHtml(pair)}</td><td class="text">${escapeHtml(overall?.direction ?? 'n/a')}</td><td>${count((r) => r.direction === 'fell')}</td><td>${count((r) => r.direction === 'rose')}</td><td>${count((r) => r.direction === 'mixed')}</td><td>${count((r) => r.beyondChance === 'every')}</td><td>${count((r) => r.beyondChance === 'some')}</td></tr>`;
  });
  const list = choices.map((c) => `${c.target} ${c.querySet}/${c.sink}`).join('; ');
  return `<p class="muted">Each concept measured under ${choices.length} choices (${escapeHtml(list)}). A direction holds when mean Δ has the same sign under all of them; a finding holds when the count of heads beats chance under all of them.</p>
<table><thead><tr><th>pair</th><th>all concepts</th><th>fell under every choice</th><th>rose under every choice</th><th>direction depends on the choice</th><th>beyond chance under every choice</th><th>beyond chance under some only</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** A value with its structure test's p beneath, or why there is none: with few components no relabelling can reach alpha. */
export function structureCell(value: number | null | undefined, test: StructureTestSummary | null | undefined): string {
  const cell = numberCell(value, 4, true);
  const p = !test
    ? ''
    : test.pValue === null
      ? `<br><small class="muted" title="${test.draws} relabellings: the smallest p possible is ${test.smallestPossible.toPrecision(2)}, not below alpha">p ≥ ${test.smallestPossible.toPrecision(2)}</small>`
      : `<br><small>p ${test.pValue.toPrecision(2)}</small>`;
  return cell.replace('</td>', `${p}</td>`);
}

/** Structure alignment per model (with its distance-matched p-value) and its change per pair; the pooled test first. */
export function structureTable(concepts: readonly ConceptEntry[], models: readonly string[], pairs: readonly string[], linked: boolean, pooled?: Summary['structure']): string {
  const pooledRow = pooled
    ? [
        `<tr class="pooled"><td>all ${pooled.concepts.length} (pooled)</td><td class="text"></td><td class="text"></td>${models
          .map((m) => structureCell(pooled.tests[m]?.statistic, pooled.tests[m]))
          .join('')}${pairs.map((p) => structureCell(pooled.tests[p]?.statistic, pooled.tests[p])).join('')}</tr>`,
      ]
    : [];
  const rows = concepts
    .filter((c) => c.structure)
    .map((c) => {
      const s = c.structure!;
      const name = linked ? `<a href="${escapeHtml(slug(c.id))}.html">${escapeHtml(c.name)}</a>` : escapeHtml(c.name);
      return `<tr><td>${name}</td><td class="text">${escapeHtml(s.components.join(', '))}</td><td class="text">${escapeHtml(s.edges.map((e) => e.join('→')).join(', '))}</td>${models
        .map((m) => structureCell(s.models[m]?.alignment, s.models[m]?.test))
        .join('')}${pairs.map((p) => structureCell(s.changes[p]?.alignmentDelta, s.changes[p]?.test)).join('')}</tr>`;
    });
  rows.unshift(...(rows.length > 0 ? pooledRow : []));
  if (rows.length === 0) return '<p class="muted">No concept here declares components and their structure.</p>';
  const head = `<tr><th>concept</th><th>components</th><th>declared relations</th>${models.map((m) => `<th>alignment ${escapeHtml(m)}</th>`).join('')}${pairs.map((p) => `<th>Δ alignment ${escapeHtml(p)}</th>`).join('')}</tr>`;
  return `<table class="sortable structure"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table><p class="muted">${STRUCTURE_NOTE}</p>`;
}

const STRUCTURE_NOTE =
  "p under each value: attention between declared components against what token distance and component size predict (a regression pooled over the concepts), with each concept's components relabelled; p = (1 + #relabellings as aligned) / (1 + N). p ≥ x: with three or four components a concept alone cannot reach alpha, x is its smallest possible p; the pooled row can reach it. The pooled row's alignment columns give the distance-adjusted statistic.";

/** Share on legal wording, on its plain paraphrase, and their contrast per model; its change per pair. */
export function wordingTable(concepts: readonly ConceptEntry[], models: readonly string[], pairs: readonly string[], linked: boolean): string {
  const rows = concepts.flatMap((c) =>
    (c.wording ?? []).map((w) => {
      const name = linked ? `<a href="${escapeHtml(slug(c.id))}.html">${escapeHtml(c.name)}</a>` : escapeHtml(c.name);
      return `<tr><td>${name}</td><td class="text">${escapeHtml(w.legal)} / ${escapeHtml(w.plain)}</td>${models.map((m) => `${numberCell(w.models[m]?.legal)}${numberCell(w.models[m]?.plain)}${numberCell(w.models[m]?.contrast, 4, true)}`).join('')}${pairs
        .map((p) => numberCell(w.changes[p]?.contrastDelta, 4, true))
        .join('')}</tr>`;
    }),
  );
  if (rows.length === 0) return '<p class="muted">No control sequence in plain wording here.</p>';
  return `<table class="sortable wording"><thead><tr><th>concept</th><th>legal / plain sequence</th>${models.map((m) => `<th>legal ${escapeHtml(m)}</th><th>plain ${escapeHtml(m)}</th><th>contrast ${escapeHtml(m)}</th>`).join('')}${pairs.map((p) => `<th>Δ contrast ${escapeHtml(p)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}
