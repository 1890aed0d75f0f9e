import { negativeControlShare } from '../compare/negative-controls.js';
import { escapeHtml } from './html.js';
import type { KnockoutChangeSummary, KnockoutSection, KnockoutSummary } from '../results/summary-file.js';

/** The report's third lens: whether the model needs to read the concept, beside where it looks. */
export interface KnockoutViews {
  html: string;
}

type Measure = KnockoutChangeSummary['measure'];
type LayerSet = KnockoutSummary['layerSets'][number];

const NONE: KnockoutViews = { html: '' };
const MEASURES: readonly Measure[] = ['loglik', 'state'];

const MEASURE_TITLES: Record<Measure, string> = {
  loglik: 'Log-likelihood of the tokens after the span (loglik, nats; knocked out − baseline)',
  state: 'Last residual state of the tokens after the span (state, mean 1 − cos with the baseline)',
};

const NOTE =
  'No token after the span may read it, in every layer or in one layer alone; per model, how much the text after the concept changes (its dependence on reading the concept), per pair B:A the change of that dependence (B − A), each against the matched control runs of its class and tested like attention shares, layer sets in place of heads. Only the pair tests are calibrated against a concept-agnostic null.';

const layerSetName = (set: LayerSet | undefined): string => (set === 'all' || set === undefined ? 'every layer' : `layer ${set}`);

/** A number, or "untested" with the reason: JSON wrote NaN as null, and the report never prints NaN. */
function valueCell(value: number | null | undefined, why: string, className = ''): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return `<td data-value="" class="${[className, 'untested'].filter(Boolean).join(' ')}" title="${escapeHtml(why)}">untested (${escapeHtml(why)})</td>`;
  return `<td data-value="${value}"${className ? ` class="${className}"` : ''}>${value.toPrecision(4)}</td>`;
}

const pCell = (p: number | null | undefined, why: string, alpha: number): string =>
  p === null || p === undefined || !Number.isFinite(p) ? valueCell(p, why, 'p') : `<td data-value="${p}" class="p">${p.toPrecision(2)}${p < alpha ? ' <strong>*</strong>' : ''}</td>`;

const notMeasured = (reason: string): KnockoutViews => ({ html: `<h2 id="knockout">Knockout</h2>\n<p class="muted knockout-skipped">Knockout was not measured: ${escapeHtml(reason)}</p>` });

/** The models, then the pairs: the order of the families in summary.json. */
const familiesOf = (section: KnockoutSummary, models: readonly string[], pairs: readonly string[]): string[] => [...models, ...pairs].filter((m) => section.changes.some((c) => c.model === m));

const changeOf = (section: KnockoutSummary, scope: string, model: string, measure: Measure): KnockoutChangeSummary | undefined => section.changes.find((c) => c.scope === scope && c.model === model && c.measure === measure);

/** Per model or pair and layer set: the concept's value, its matched controls', the class-matched effect and p. */
function valueRows(section: KnockoutSummary, change: KnockoutChangeSummary, alpha: number): string {
  const untested = change.untested ?? 'no chance test';
  return section.layerSets
    .map((set, k) => {
      const tested = change.pValue !== undefined;
      return `<tr data-model="${escapeHtml(change.model)}" data-layer="${set}"><td>${escapeHtml(change.model)}</td><td class="text">${layerSetName(set)}</td>${valueCell(change.concept[k], 'no token follows the concept in any of its sequences', 'concept')}${valueCell(change.control[k], 'none of its matched control runs has a token after it', 'control')}${valueCell(change.effect?.[k], tested ? 'no sequence gave a class-matched effect' : untested, 'effect')}${pCell(change.pValue?.[k], tested ? 'the effect is not defined in this layer set' : untested, alpha)}</tr>`;
    })
    .join('');
}

/** Per model or pair: the layer sets beating chance, against how many the negative-control words give. */
function countRow(section: KnockoutSummary, change: KnockoutChangeSummary, alpha: number): string {
  const head = `<tr data-model="${escapeHtml(change.model)}"><td>${escapeHtml(change.model)}</td>`;
  if (change.pValue === undefined || change.layersBeatingChance === undefined || change.layersBeatingChance === null) return `${head}<td class="text untested" colspan="4">untested (${escapeHtml(change.untested ?? 'no chance test')})</td></tr>`;
  const listed = change.pValue.flatMap((p, k) => (p !== null && p < alpha ? [`${layerSetName(section.layerSets[k])} ${(change.effect?.[k] ?? 0) > 0 ? '↑' : '↓'}`] : []));
  const beyond = change.countPValue !== undefined && change.countPValue !== null && change.countPValue < alpha;
  const expected = change.expectedByChance === null || change.expectedByChance === undefined ? 'untested (no null for this count)' : change.expectedByChance.toFixed(2);
  const countP = change.countPValue === null || change.countPValue === undefined ? 'untested (no null for this count)' : change.countPValue.toPrecision(2);
  return `${head}<td class="text">${listed.length > 0 ? listed.join(', ') : 'none'}</td><td data-value="${change.layersBeatingChance}">${change.layersBeatingChance} of ${section.layerSets.length}${beyond ? ' <strong>*</strong>' : ''}</td><td>${expected}</td><td>${countP}</td></tr>`;
}

function measureTables(section: KnockoutSummary, scope: string, families: readonly string[], measure: Measure, alpha: number): string {
  const changes = families.flatMap((m) => changeOf(section, scope, m, measure) ?? []);
  if (changes.length === 0) return '';
  return `<h3>${escapeHtml(MEASURE_TITLES[measure])}</h3>
<table class="knockout-values" data-measure="${measure}"><thead><tr><th>model or pair</th><th>knocked out in</th><th>concept</th><th>matched controls</th><th>class-matched effect</th><th>p</th></tr></thead><tbody>${changes.map((c) => valueRows(section, c, alpha)).join('')}</tbody></table>
<table class="knockout-counts" data-measure="${measure}"><thead><tr><th>model or pair</th><th>layer sets with p &lt; ${alpha}</th><th>layer sets beating chance</th><th>expected by chance</th><th>count p</th></tr></thead><tbody>${changes.map((c) => countRow(section, c, alpha)).join('')}</tbody></table>`;
}

/** A concept page's Knockout section: per model and pair, per measure and layer set, the concept against its controls, and the count test. */
export function conceptKnockout(section: KnockoutSection | undefined, concept: { id: string }, models: readonly string[], pairs: readonly string[], alpha: number): KnockoutViews {
  if (section === undefined || section === null) return NONE;
  if ('skipped' in section) return notMeasured(section.skipped);
  const families = familiesOf(section, models, pairs);
  if (!section.changes.some((c) => c.scope === concept.id)) return { html: '<h2 id="knockout">Knockout</h2>\n<p class="muted">No knockout was measured for this concept.</p>' };
  return {
    html: `<h2 id="knockout">Knockout</h2>
<p class="muted">${NOTE} ↑: the concept's value lies above its controls' (class-matched effect &gt; 0); ↓: below; for loglik, below means the text after the concept needs it more than the text after comparable spans. <strong>*</strong>: p &lt; ${alpha}; in the counts, more layer sets beat chance than the negative-control words give.</p>
${MEASURES.map((m) => measureTables(section, concept.id, families, m, alpha)).join('\n')}`,
  };
}

/** Over all concepts, per model or pair and measure: concepts beating chance against chance, and the run's own negative controls. */
function overallTable(section: KnockoutSummary, families: readonly string[], alpha: number): string {
  const rows = MEASURES.flatMap((measure) =>
    families.map((model) => {
      const o = changeOf(section, '*', model, measure)?.overall;
      const own = negativeControlShare(
        section.negativeControls.filter((n) => n.measure === measure && n.model === model).map((n) => ({ ...n, pair: n.model })),
        model,
      );
      const controls = own ? `<td data-value="${own.rate}">${(100 * own.rate).toFixed(1)} % of ${own.words}</td>` : '<td class="untested">untested (no negative-control word recurs in two or more sequences, as a concept does)</td>';
      const head = `<tr data-model="${escapeHtml(model)}" data-measure="${measure}"><td>${escapeHtml(model)}</td><td>${measure}</td>`;
      if (!o) return `${head}<td class="text untested" colspan="3">untested (no concept could be tested)</td>${controls}</tr>`;
      return `${head}<td data-value="${o.conceptsBeatingChance}">${o.conceptsBeatingChance} of ${o.concepts}${o.pValue < alpha ? ' <strong>*</strong>' : ''}</td><td>${o.expectedByChance.toFixed(1)}</td><td>${o.pValue.toPrecision(2)}</td>${controls}</tr>`;
    }),
  );
  return `<table class="knockout-overall"><thead><tr><th>model or pair</th><th>measure</th><th>concepts beating chance</th><th>chance gives</th><th>p (binomial)</th><th>negative controls beating chance (the run's false-positive rate)</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** The index page's Knockout section: the overall counts per model, pair and measure, the negative controls, and the definitions. */
export function indexKnockout(section: KnockoutSection | undefined, models: readonly string[], pairs: readonly string[], alpha: number): KnockoutViews {
  if (section === undefined || section === null) return NONE;
  if ('skipped' in section) return notMeasured(section.skipped);
  const definitions = Object.entries(section.definitions).map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`);
  return {
    html: `<h2 id="knockout">Knockout</h2>
<p class="muted">${NOTE} Layer sets: ${section.layerSets.map(layerSetName).join(', ')}; up to ${section.rowsPerSequence} rows per sequence. Numbers per concept on its page and in knockout.csv.</p>
${overallTable(section, familiesOf(section, models, pairs), alpha)}
<p class="muted"><strong>*</strong>: more concepts beat chance than chance gives (p &lt; ${alpha}). A calibrated test finds about ${(100 * alpha).toFixed(1)} % of the negative-control words.</p>
<dl class="knockout-definitions">${definitions.join('')}</dl>`,
  };
}
