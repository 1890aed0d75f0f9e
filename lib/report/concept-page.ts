import { componentAttention, componentTokens } from '../measure/component-attention.js';
import { skewnessUndefined } from '../measure/distribution.js';
import { FULL_MAP_TOKENS } from '../measure/map-cells.js';
import { attentionMapSvg, differenceExtent, differenceMapSvg, type TokenMap } from '../render/attention-map.js';
import { componentMatrixSvg } from '../render/component-matrix.js';
import { escapeHtml, figure, naCell, numberCell, page, slug } from './html.js';
import { conceptKnockout } from './knockout-section.js';
import { conceptRepresentations } from './representations-section.js';
import { explorerSection } from './explorer.js';
import { keptMaps } from './kept-maps.js';
import { type ChangeSummary, type Results } from '../results/summary-file.js';
import { lensChoice } from './lens.js';
import { isOfVariant, maxAbs, ReportBuilder, type Page } from './report-builder.js';
import { conceptChoices, intervalCell, structureTable, wordingTable } from './tables.js';

/** Heads beating chance of one pair, against chance, or why there is no test. */
function headsCell(c: ChangeSummary | undefined): string {
  if (!c || c.headsBeatingChance === null || c.expectedByChance === null) return naCell('no chance test of the heads: fewer than 20 negative-control words recur in as many sequences as this concept has');
  return `<td data-value="${c.headsBeatingChance}">${c.headsBeatingChance} / ${c.heads} (chance: ${c.expectedByChance}; count p ${c.countPValue?.toPrecision(2) ?? 'not defined'})</td>`;
}

type AddFigure = (name: string, svg: string, caption: string) => string;

/** The views read from the maps compare kept: attention maps, difference maps, the explorer and the component structure. */
async function mapViews(report: ReportBuilder, concept: Results['summary']['concepts'][number], add: AddFigure): Promise<string> {
  // The shortest sequence of legal wording: the most readable map, and the smallest file.
  const sequence = (await report.shortestSequence(concept)) ?? concept.sequences[0]!;
  const { tokens, spans, maps, layer, cellTokens } = await report.layerMaps(concept.id, sequence);
  const conceptTokens = [...new Set(spans.flatMap((s) => s.tokens))];
  const which = report.options.head === undefined ? 'head-averaged' : `head ${report.options.head}`;
  const tokenMap = (map: Float32Array): TokenMap => ({ map, tokens, concept: conceptTokens, ...(cellTokens ? { cellTokens } : {}) });
  const mapped = report.options.mapModels === 'all' ? maps : maps.slice(0, 1);
  const hasMaps = maps.length === report.models.length;
  const attentionMaps = mapped.map((map, k) => add(`map-${slug(report.models[k]!)}`, attentionMapSvg(tokenMap(map), `${concept.name} (${sequence}): layer ${layer}, ${which}, ${report.models[k]}`), `Attention of layer ${layer} (${which}) of ${report.models[k]}.`));
  const differences = (hasMaps ? report.pairs : []).map((pair) => {
    const [after = '', before = ''] = pair.split(':');
    const a = maps[report.models.indexOf(after)]!;
    const b = maps[report.models.indexOf(before)]!;
    return { pair, after, before, map: tokenMap(a.map((v, k) => v - b[k]!)) };
  });
  // One colour scale for every pair of the concept, so that colours compare across pairs.
  const extent = Math.max(1e-9, ...differences.map((d) => differenceExtent(d.map)));
  const differenceMaps = differences.map(({ pair, after, before, map }) =>
    add(`diff-${slug(pair)}`, differenceMapSvg(map, `${concept.name} (${sequence}): layer ${layer}, ${which}, ${pair}`, extent), `Raw attention alteration A_${after} − A_${before}, layer ${layer}; every pair on one scale, ±${extent.toPrecision(2)}.`),
  );
  const kept = hasMaps ? await keptMaps(await Promise.all(report.models.map((m) => report.traceFolder(m))), concept.id, sequence) : undefined;
  const explorer = kept ? explorerSection(kept, report.models, report.pairs[0] ?? '', layer, sequence) : '';
  const structured = hasMaps ? await report.shortestSequence(concept, true) : undefined;
  let componentHtml = '';
  const parts = structured ? await report.layerMaps(concept.id, structured) : undefined;
  if (parts?.cellTokens) {
    componentHtml = `<h3>Component structure</h3><p>Not drawn: this run kept its maps pooled into cells of ${parts.cellTokens} tokens (texts longer than ${FULL_MAP_TOKENS.toLocaleString('en')} tokens), and components are single tokens.</p>`;
  } else if (parts) {
    const components = componentTokens(parts.spans);
    const labels = components.map((c) => c.label);
    const matrices = parts.maps.map((map) => componentAttention(map, parts.tokens.length, components));
    const top = Math.max(1e-9, ...matrices.flatMap((m) => Array.from(m).filter(Number.isFinite)));
    const perModel = matrices.map((values, k) => add(`components-${slug(report.models[k]!)}`, componentMatrixSvg({ components: labels, values }, `${concept.name} (${structured}): components, ${report.models[k]}`, false, top), `Component × component attention of “${structured}”, layer ${layer} (${which}).`));
    const deltas = report.pairs.map((pair) => {
      const [after = '', before = ''] = pair.split(':');
      return { pair, values: matrices[report.models.indexOf(after)]!.map((v, k) => v - matrices[report.models.indexOf(before)]![k]!) };
    });
    const extent = maxAbs(deltas.map((d) => d.values));
    const perPair = deltas.map((d) => add(`components-${slug(d.pair)}`, componentMatrixSvg({ components: labels, values: d.values }, `${concept.name}: components, ${d.pair}`, true, extent), `Change of component × component attention, ${d.pair}.`));
    componentHtml = `<h3>Component structure</h3><div class="views">${[...perModel, ...perPair].join('')}</div>`;
  }
  const drawn = hasMaps
    ? `<h2>Attention maps of “${escapeHtml(sequence)}”</h2><div class="views">${attentionMaps.join('')}</div>
<h3>Difference maps</h3><div class="views">${differenceMaps.join('')}</div>
${explorer}`
    : '<p class="muted">No attention maps: compare ran with --maps none.</p>';
  return `${drawn}\n${componentHtml}`;
}

/** The sections measured on attention alone or on no lens, drawn once, on the attention page: choices, structure, wording, maps, representations and knockout. */
async function attentionOnly(report: ReportBuilder, concept: Results['summary']['concepts'][number], add: AddFigure, svgs: Page['svgs']): Promise<{ before: string; after: string }> {
  if (report.variant.lens !== 'attention') {
    const note = `<p class="muted">The maps, the component structure, structure and wording, representations and knockout are on the <a href="../${escapeHtml(slug(concept.id))}.html">attention page</a>: they are measured on attention alone, or on no lens (compare keeps the maps of α only).</p>`;
    return { before: note, after: '' };
  }
  const maps = await mapViews(report, concept, add);
  const representations = conceptRepresentations(report.results.summary.representations, concept, report.pairs, report.alpha);
  svgs.push(...representations.svgs);
  const knockout = conceptKnockout(report.results.summary.knockout, concept, report.models, report.pairs, report.alpha);
  return {
    before: `${conceptChoices(concept.robustness ?? [], report.pairs)}
<h2>Structure and wording</h2>
<p class="muted">Structure alignment: attention between declared component pairs minus between the others (p matched on token distance and component size). Contrast: concept share on the legal term minus on its plain paraphrase.</p>
${structureTable([concept], report.models, report.pairs, false)}
${wordingTable([concept], report.models, report.pairs, false)}`,
    // the second and third lens follow the attention views of the concept
    after: `${maps}\n${representations.html}\n${knockout.html}`,
  };
}

/** One concept's page: every view of it, then its representation change and knockout. */
export async function conceptPage(report: ReportBuilder, concept: Results['summary']['concepts'][number]): Promise<Page> {
  const result = concept.results.find((r) => isOfVariant(r, report.variant));
  const views = report.summaryViews(concept.id, result, concept.name, slug(concept.id));
  const svgs = [...views.svgs];
  const add: AddFigure = (name, svg, caption) => {
    const file = `svg/${slug(concept.id)}-${name}.svg`;
    svgs.push({ file, svg });
    return figure(svg, file, caption);
  };
  const value = report.variant.lens === 'value';
  const notForLens = 'not defined for the value-weighted lens';
  const rows = report.models.map((model) => `<tr><td>${escapeHtml(model)}</td>${numberCell(result?.models[model]?.share)}${numberCell(result?.models[model]?.lift, 2)}${value ? naCell(notForLens) : numberCell(result?.models[model]?.entropy, 3)}${value ? naCell(notForLens) : numberCell(result?.models[model]?.rollout)}</tr>`);
  const pairRows = report.pairs.map((pair) => {
    const c = result?.changes[pair];
    return `<tr><td>${escapeHtml(pair)}</td>${numberCell(c?.meanDelta, 4, true)}${numberCell(c?.medianDelta, 4, true)}${numberCell(c?.skewness, 2, false, `skewness not defined: ${skewnessUndefined(c?.heads ?? 0)}`)}${numberCell(c?.kurtosis, 2)}${numberCell(c?.fractionRose, 2)}${headsCell(c)}${intervalCell(c?.replication?.meanDelta)}</tr>`;
  });
  const sections = await attentionOnly(report, concept, add, svgs);
  const html = page(
    `${concept.name} · legal-attn`,
    `<nav><a href="index.html">← all concepts</a></nav>
<h1>${escapeHtml(concept.name)}</h1>
<p class="muted">${escapeHtml(concept.area ?? '')}${concept.source ? ` · sources: ${escapeHtml(concept.source)}` : ''}<br>sequences: ${concept.sequences.map(escapeHtml).join(', ')} · query set ${escapeHtml(report.variant.querySet)}, sink included</p>
${lensChoice(report, `${slug(concept.id)}.html`)}
<table class="model-measures"><thead><tr><th>model</th><th>${report.shareName}</th><th>lift over controls</th><th>entropy</th><th>rollout share</th></tr></thead><tbody>${rows.join('')}</tbody></table>
<table class="pair-changes"><thead><tr><th>pair</th><th>mean Δ</th><th>median Δ</th><th>skewness g1</th><th>excess kurtosis g2</th><th>fraction rose</th><th>heads beating chance</th><th>mean Δ, 95 % bootstrap over sequences</th></tr></thead><tbody>${pairRows.join('')}</tbody></table>
${sections.before}
${views.html}
${sections.after}`,
    true,
  );
  return { file: `${slug(concept.id)}.html`, html, svgs };
}
