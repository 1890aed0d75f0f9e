import { negativeControlShare, type NegativeControlSummary } from '../compare/negative-controls.js';
import { ckaMatrixSvg } from '../render/cka-matrix.js';
import { layerCurvesSvg, type LayerAxis, type LayerCurve } from '../render/layer-curves.js';
import { escapeHtml, figure, slug } from './html.js';
import type { ProbeSummary, RepresentationChangeSummary, RepresentationsSection, RepresentationsSummary } from '../results/summary-file.js';

/** The report's second lens: the residual stream's measures beside the attention views. */
export interface SectionViews {
  html: string;
  svgs: Array<{ file: string; svg: string }>;
}

type AddFigure = (name: string, svg: string, caption: string) => string;
type ModelGeometrySummary = RepresentationsSummary['models'][number];

const NONE: SectionViews = { html: '', svgs: [] };

const DEFINITION_NAMES: Record<string, string> = {
  states: 'States',
  change: 'Representation change',
  cka: 'Linear CKA',
  probe: 'Probes',
  paraphrase: 'Paraphrase distance',
  structure: 'Structure gap',
};

/** Figures of one page, each SVG written beside it under svg/. */
function figures(prefix: string): { add: AddFigure; svgs: SectionViews['svgs'] } {
  const svgs: SectionViews['svgs'] = [];
  const add: AddFigure = (name, svg, caption) => {
    const file = `svg/${prefix}-${name}.svg`;
    svgs.push({ file, svg });
    return figure(svg, file, caption);
  };
  return { add, svgs };
}

/** JSON wrote NaN as null; the renderers skip NaN. */
const values = (list: ReadonlyArray<number | null> | undefined): number[] => (list ?? []).map((v) => v ?? Number.NaN);

/** State layers on the x axis: 0 is the token embeddings, the last is after the last layer. */
const stateAxis = (states: number, extra: Partial<LayerAxis> = {}): LayerAxis => ({
  title: `state layer (0: embeddings, ${states - 1}: after the last layer)`,
  tick: (l) => `${l}`,
  point: (l) => `state ${l}`,
  ...extra,
});

const notMeasured = (reason: string): SectionViews => ({ html: `<h2>Representations</h2>\n<p class="muted representations-skipped">Representations were not measured: ${escapeHtml(reason)}</p>`, svgs: [] });

/** The state layers whose change has p < alpha against comparable words. */
export const statesBeatingChance = (c: RepresentationChangeSummary, alpha: number): number[] => values(c.pValue).flatMap((p, l) => (p < alpha ? [l] : []));

/** One scope's changes in the order of the pairs. */
const changesOf = (section: RepresentationsSummary, scope: string, pairs: readonly string[]): RepresentationChangeSummary[] => pairs.flatMap((pair) => section.changes.filter((c) => c.scope === scope && c.pair === pair));

function changeFigure(add: AddFigure, c: RepresentationChangeSummary, states: number, alpha: number, label: string): string {
  const p = values(c.pValue);
  const curves: LayerCurve[] = [
    { model: 'concept', values: values(c.concept), marked: p.map((v) => v < alpha) },
    { model: 'controls', values: values(c.control) },
  ];
  const svg = layerCurvesSvg(curves, `${label}: representation change, ${c.pair}`, '1 − cos(after, before)', stateAxis(states, { markLabel: `p < ${alpha}` }));
  return add(`repr-change-${slug(c.pair)}`, svg, `${c.pair}: the concept against its controls; ringed: p < ${alpha}.`);
}

/** Per pair: which states of a concept beat chance, how many against how many its negative controls give, and the p of that count. */
function countTable(changes: readonly RepresentationChangeSummary[], states: number, alpha: number): string {
  const rows = changes.map((c) => {
    const tested = c.pValue !== undefined && c.layersBeatingChance !== undefined && c.layersBeatingChance !== null;
    if (!tested) return `<tr data-pair="${escapeHtml(c.pair)}"><td>${escapeHtml(c.pair)}</td><td class="text" colspan="4">no chance test: ${escapeHtml(c.untested ?? 'not tested')}</td></tr>`;
    const beyond = c.countPValue !== undefined && c.countPValue !== null && c.countPValue < alpha;
    // two-sided: the sign says whether the concept moved more (↑) or less (↓) than comparable words
    const listed = statesBeatingChance(c, alpha).map((l) => `${l} ${(c.effect?.[l] ?? 0) > 0 ? '↑' : '↓'}`);
    return `<tr data-pair="${escapeHtml(c.pair)}"><td>${escapeHtml(c.pair)}</td><td class="text">${listed.length > 0 ? listed.join(', ') : 'none'}</td><td data-value="${c.layersBeatingChance}">${c.layersBeatingChance} of ${states}${beyond ? ' <strong>*</strong>' : ''}</td><td>${c.expectedByChance?.toFixed(2) ?? 'n/a'}</td><td>${c.countPValue?.toPrecision(2) ?? 'n/a'}</td></tr>`;
  });
  return `<table class="representation-counts"><thead><tr><th>pair</th><th>states with p &lt; ${alpha}</th><th>states beating chance</th><th>expected by chance</th><th>count p</th></tr></thead><tbody>${rows.join('')}</tbody></table>
<p class="muted">↑: the concept moved more than comparable words of the same texts; ↓: less. <strong>*</strong>: more states beat chance than the negative-control words give (count p &lt; ${alpha}).</p>`;
}

/** Per pair, over all concepts: how many beat chance against how many chance gives, and the run's own negative controls. */
function overallTable(changes: readonly RepresentationChangeSummary[], negativeControls: readonly NegativeControlSummary[], alpha: number): string {
  const rows = changes.map((c) => {
    const o = c.overall;
    const own = negativeControlShare(negativeControls, c.pair);
    const controls = own ? `${(100 * own.rate).toFixed(1)} % of ${own.words}` : 'n/a';
    if (!o) return `<tr data-pair="${escapeHtml(c.pair)}"><td>${escapeHtml(c.pair)}</td><td class="text" colspan="3">no concept could be tested</td><td>${controls}</td></tr>`;
    return `<tr data-pair="${escapeHtml(c.pair)}"><td>${escapeHtml(c.pair)}</td><td data-value="${o.conceptsBeatingChance}">${o.conceptsBeatingChance} of ${o.concepts}${o.pValue < alpha ? ' <strong>*</strong>' : ''}</td><td>${o.expectedByChance.toFixed(1)}</td><td>${o.pValue.toPrecision(2)}</td><td>${controls}</td></tr>`;
  });
  return `<table class="representation-overall"><thead><tr><th>pair</th><th>concepts beating chance</th><th>chance gives</th><th>p (binomial)</th><th>negative controls beating chance</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

const CHANGE_NOTE = 'Representation change between the two checkpoints of a pair: 1 − cos of the mean residual state at the concept’s tokens, against the same at its matched control runs, per state layer. Tested like attention shares (class-matched effect, the negative-control words), state layers in place of heads.';

/** A concept page's Representations section: per pair, its change curve against its controls and its count test. */
export function conceptRepresentations(section: RepresentationsSection | undefined, concept: { id: string; name: string }, pairs: readonly string[], alpha: number): SectionViews {
  if (section === undefined || section === null) return NONE;
  if ('skipped' in section) return notMeasured(section.skipped);
  const { add, svgs } = figures(slug(concept.id));
  const changes = changesOf(section, concept.id, pairs);
  if (changes.length === 0) return { html: '<h2>Representations</h2>\n<p class="muted">No representation change was measured for this concept.</p>', svgs };
  const html = `<h2 id="representations">Representations</h2>
<p class="muted">${CHANGE_NOTE}</p>
<div class="views">${changes.map((c) => changeFigure(add, c, section.states, alpha, concept.name)).join('')}</div>
${countTable(changes, section.states, alpha)}`;
  return { html, svgs };
}

function ckaFigures(add: AddFigure, section: RepresentationsSummary, pairs: readonly string[]): string[] {
  return pairs.flatMap((pair) => {
    const cka = section.cka.find((c) => c.pair === pair);
    if (!cka) return [];
    const [after = '', before = ''] = pair.split(':');
    return [
      add(`cka-concepts-${slug(pair)}`, ckaMatrixSvg({ after, before, values: cka.concepts }, `CKA over concept occurrences, ${pair}`), `${pair}: over concept occurrences (each one's mean state).`),
      add(`cka-tokens-${slug(pair)}`, ckaMatrixSvg({ after, before, values: cka.tokens }, `CKA over single tokens, ${pair}`), `${pair}: over single tokens, averaged over sequences.`),
    ];
  });
}

/** A probe's chance level: its accuracy on shuffled labels, averaged over models and states (one reference line). */
function chanceLines(models: readonly ModelGeometrySummary[], probe: (m: ModelGeometrySummary) => ProbeSummary[]): Array<{ label: string; value: number }> {
  const chances = models.flatMap((m) => probe(m).flatMap((p) => (p.chance === null ? [] : [p.chance])));
  return chances.length > 0 ? [{ label: 'chance', value: chances.reduce((a, b) => a + b, 0) / chances.length }] : [];
}

function probeFigure(add: AddFigure, models: readonly ModelGeometrySummary[], states: number, kind: 'area' | 'concept'): { figure: string; note: string } {
  const probe = (m: ModelGeometrySummary): ProbeSummary[] => (kind === 'area' ? m.areaProbe : m.conceptProbe);
  const chance = chanceLines(models, probe);
  const curves = models.map((m) => ({ model: m.model, values: probe(m).map((p) => p.accuracy ?? Number.NaN) }));
  const what = kind === 'area' ? 'area of law' : 'concept';
  const first = models[0] ? probe(models[0])[0] : undefined;
  const heldOut = kind === 'area' ? 'each concept held out in turn' : 'each sequence index held out in turn';
  const svg = layerCurvesSvg(curves, `Probe of the ${what}, held out`, 'held-out accuracy', stateAxis(states, { references: chance }));
  const chanceText = chance.map((c) => `${c.label} ${c.value.toFixed(3)}`).join(', ') || 'chance n/a';
  return {
    figure: add(`probe-${kind}`, svg, `Held-out accuracy per model; dashed: ${chanceText}.`),
    note: `${what}: ${first?.classes ?? 'n/a'} classes over ${first?.rows ?? 'n/a'} concept occurrences, ${heldOut}; ${chanceText} (the mean accuracy of the same probe and folds on labels shuffled ${kind === 'area' ? 'over concepts' : 'over occurrences'}, 100 shuffles)`,
  };
}

/** Paraphrase distance per model, and the structure gap where some concept declares structure. */
function geometryFigures(add: AddFigure, models: readonly ModelGeometrySummary[], states: number): string[] {
  const paraphrase = models.map((m) => ({ model: m.model, values: values(m.paraphraseDistance) }));
  const structure = models.map((m) => ({ model: m.model, values: values(m.structureGap) }));
  const any = (curves: ReadonlyArray<{ values: number[] }>): boolean => curves.some((c) => c.values.some(Number.isFinite));
  return [
    any(paraphrase)
      ? add('paraphrase', layerCurvesSvg(paraphrase, 'Legal term against plain paraphrase', '1 − cos(legal, plain)', stateAxis(states)), '1 − cos between a legal term and its plain paraphrase, per model.')
      : '<p class="muted">No concept has a control sequence in plain wording: no paraphrase distance.</p>',
    any(structure)
      ? add('structure-gap', layerCurvesSvg(structure, 'Structure gap', 'related − unrelated 1 − cos', stateAxis(states, { references: [{ label: 'no gap', value: 0 }] })), 'Related minus unrelated components; below zero: related sit closer.')
      : '',
  ];
}

/** The index page's Representations section: overall change, CKA per pair, probes and distances per model, and the definitions. */
export function indexRepresentations(section: RepresentationsSection | undefined, pairs: readonly string[], alpha: number): SectionViews {
  if (section === undefined || section === null) return NONE;
  if ('skipped' in section) return notMeasured(section.skipped);
  const { add, svgs } = figures('overall');
  const { states, hidden } = section;
  const overall = changesOf(section, '*', pairs);
  const probes = (['area', 'concept'] as const).map((kind) => probeFigure(add, section.models, states, kind));
  const definitions = Object.entries(section.definitions).map(([k, v]) => `<dt>${escapeHtml(DEFINITION_NAMES[k] ?? k)}</dt><dd>${escapeHtml(v)}</dd>`);
  const html = `<h2 id="representations">Representations</h2>
<p class="muted">The attention views above say where each model looks; these read the residual stream itself, in the same forward pass: ${states} state layers (0: the token embeddings … ${states - 1}: after the last layer, before the final norm), width ${hidden}. Numbers per state in representations.csv.</p>
<dl class="representation-definitions">${definitions.join('')}</dl>
<h3>Change at the concepts against their controls (all concepts)</h3>
<p class="muted">${CHANGE_NOTE}</p>
<div class="views">${overall.map((c) => changeFigure(add, c, states, alpha, 'All concepts')).join('')}</div>
${overallTable(overall, section.negativeControls ?? [], alpha)}
<h3>How alike the models' states are, layer by layer (linear CKA)</h3>
<p class="muted">Rows: the later checkpoint's state layer; columns: the earlier one's; one scale [0, 1] for every pair. The diagonal compares the same depth.</p>
<div class="views">${ckaFigures(add, section, pairs).join('')}</div>
<h3>What a linear probe reads from the concept's state</h3>
<div class="views">${probes.map((p) => p.figure).join('')}</div>
<ul class="muted">${probes.map((p) => `<li>${escapeHtml(p.note)}</li>`).join('')}</ul>
<h3>Legal term against plain paraphrase, and declared structure</h3>
<div class="views">${geometryFigures(add, section.models, states).join('')}</div>`;
  return { html, svgs };
}
