import path from 'node:path';
import { badInput } from '../errors.js';
import { writeFileWhole, writeFolderWhole } from '../io/atomic.js';
import { readNpy } from '../io/npy.js';
import { componentAttention, componentTokens } from '../measure/component-attention.js';
import type { Distribution } from '../measure/distribution.js';
import { FULL_MAP_TOKENS } from '../measure/map-cells.js';
import { attentionMapSvg, differenceExtent, differenceMapSvg, type TokenMap } from '../render/attention-map.js';
import { componentMatrixSvg } from '../render/component-matrix.js';
import { changeGridSvg, headGridSvg, type HeadChance, type HeadValues } from '../render/head-grid.js';
import { distributionSvg } from '../render/histogram.js';
import { layerCurvesSvg } from '../render/layer-curves.js';
import type { TokenSpan } from '../tokenize/align-spans.js';
import { escapeHtml, figure, numberCell, page, slug } from './html.js';
import { readTokensFile } from '../results/tokens-file.js';
import { readTraceIndex, traceIndexFile } from '../results/trace-index.js';
import { headlineSection } from './headline.js';
import { conceptRepresentations, indexRepresentations } from './representations-section.js';
import { readResults, type ChangeSummary, type Results, type Row, type RobustnessSummary, type ScopeResult, type StructureTestSummary, type Summary } from '../results/summary-file.js';

export interface ReportOptions {
  /** Layer of the attention and difference maps (default: the last). */
  layer?: number;
  /** One head for the maps, or their mean (default). */
  head?: number;
  /** Attention maps of the first model only (default; the difference maps show the rest) or of every model. */
  mapModels?: 'first' | 'all';
  /** Output folder (default RESULTS/report). */
  out?: string;
}

export interface ReportSummary {
  out: string;
  index: string;
  files: string[];
  bytes: number;
}

interface Page {
  file: string;
  html: string;
  svgs: Array<{ file: string; svg: string }>;
}

interface QuerySetAndSink {
  querySet: string;
  sink: string;
}

const CONCEPT = 'concept';

function gridOf(rows: readonly Row[], key: string, layers: number, heads: number): Float64Array {
  const sums = new Float64Array(layers * heads);
  const counts = new Float64Array(layers * heads);
  for (const row of rows) {
    const k = Number(row.layer) * heads + Number(row.head);
    const v = row[key] === '' || row[key] === undefined ? Number.NaN : Number(row[key]);
    if (Number.isFinite(v)) {
      sums[k]! += v;
      counts[k]! += 1;
    }
  }
  return sums.map((s, k) => (counts[k]! > 0 ? s / counts[k]! : Number.NaN));
}

const matches = (row: Row, variant: QuerySetAndSink, fields: Record<string, string>): boolean =>
  row.target === CONCEPT && row.query_set === variant.querySet && row.sink === variant.sink && Object.entries(fields).every(([k, v]) => row[k] === v);

const maxAbs = (arrays: readonly Float64Array[]): number => Math.max(1e-9, ...arrays.flatMap((a) => Array.from(a).filter(Number.isFinite).map(Math.abs)));

function asDistribution(c: ChangeSummary): Distribution {
  const n = (v: number | null) => v ?? Number.NaN;
  return {
    n: c.heads,
    mean: n(c.meanDelta),
    median: n(c.medianDelta),
    sd: n(c.sd),
    skewness: n(c.skewness),
    skewnessAdjusted: n(c.skewnessAdjusted),
    kurtosis: n(c.kurtosis),
    kurtosisAdjusted: n(c.kurtosisAdjusted),
    fractionRose: n(c.fractionRose),
  };
}

type ConceptEntry = Results['summary']['concepts'][number];

/** Heads beating chance, starred when their number is itself beyond chance. */
function beatChanceCell(c: ChangeSummary | undefined, alpha: number): string {
  if (!c || c.headsBeatingChance === null) return '<td data-value="">n/a</td>';
  const beyond = c.countPValue !== null && c.countPValue !== undefined && c.countPValue < alpha;
  const title = `${c.headsBeatingChance} of ${c.heads} heads at p < ${alpha}; about ${c.expectedByChance ?? 'n/a'} by chance; count p ${c.countPValue ?? 'n/a'}`;
  return `<td data-value="${c.headsBeatingChance}" title="${escapeHtml(title)}">${c.headsBeatingChance}${beyond ? ' <strong>*</strong>' : ''}</td>`;
}

/** A bootstrap interval, or n/a with too few units. */
function intervalCell(interval: { low: number | null; high: number | null } | undefined): string {
  if (!interval || interval.low === null || interval.high === null) return '<td data-value="">n/a</td>';
  return `<td data-value="${interval.low}">[${interval.low.toExponential(1)}, ${interval.high.toExponential(1)}]</td>`;
}

/** One concept's mean Δ and finding under each choice measured, per pair. */
function conceptChoices(robustness: readonly RobustnessSummary[], pairs: readonly string[]): string {
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
function robustnessTable(summary: Summary, pairs: readonly string[]): string {
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
function structureCell(value: number | null | undefined, test: StructureTestSummary | null | undefined): string {
  const cell = numberCell(value, 4, true);
  const p = !test
    ? ''
    : test.pValue === null
      ? `<br><small class="muted" title="${test.draws} relabellings: the smallest p possible is ${test.smallestPossible.toPrecision(2)}, not below alpha">p ≥ ${test.smallestPossible.toPrecision(2)}</small>`
      : `<br><small>p ${test.pValue.toPrecision(2)}</small>`;
  return cell.replace('</td>', `${p}</td>`);
}

/** Structure alignment per model (with its distance-matched p-value) and its change per pair; the pooled test first. */
function structureTable(concepts: readonly ConceptEntry[], models: readonly string[], pairs: readonly string[], linked: boolean, pooled?: Summary['structure']): string {
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
  return `<table class="sortable structure"><thead><tr><th>concept</th><th>components</th><th>declared relations</th>${models.map((m) => `<th>alignment ${escapeHtml(m)}</th>`).join('')}${pairs.map((p) => `<th>Δ alignment ${escapeHtml(p)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table><p class="muted">p under each value: attention between declared components against what token distance and component size predict (a regression pooled over the concepts), with each concept's components relabelled; p = (1 + #relabellings as aligned) / (1 + N). p ≥ x: with three or four components a concept alone cannot reach alpha, x is its smallest possible p; the pooled row can reach it. The pooled row's alignment columns give the distance-adjusted statistic.</p>`;
}

/** Share on legal wording, on its plain paraphrase, and their contrast per model; its change per pair. */
function wordingTable(concepts: readonly ConceptEntry[], models: readonly string[], pairs: readonly string[], linked: boolean): string {
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

class ReportBuilder {
  readonly layers: number;
  readonly heads: number;
  readonly models: string[];
  readonly pairs: string[];
  readonly variant: QuerySetAndSink;
  readonly alpha: number;

  constructor(
    readonly results: Results,
    readonly options: ReportOptions,
  ) {
    const { summary } = results;
    this.layers = summary.models[0]?.layers ?? 0;
    this.heads = summary.models[0]?.heads ?? 0;
    this.models = summary.models.map((m) => m.name);
    this.pairs = summary.options.pairs;
    this.variant = { querySet: summary.options.querySets[0] ?? 'all', sink: 'include' };
    this.alpha = summary.options.alpha;
  }

  private headValues(values: Float64Array): HeadValues {
    return { values, layers: this.layers, heads: this.heads };
  }

  /** Per-model grids of a concept (mean over its sequences), or of all concepts (`*`, mean over concepts). */
  modelGrids(concept: string): Float64Array[] {
    return this.models.map((model) => {
      if (concept !== '*') return gridOf(this.results.shares.filter((r) => matches(r, this.variant, { concept, model })), 'share', this.layers, this.heads);
      const perConcept = this.results.summary.concepts.map((c) => gridOf(this.results.shares.filter((r) => matches(r, this.variant, { concept: c.id, model })), 'share', this.layers, this.heads));
      return perConcept.reduce((acc, g) => acc.map((v, k) => v + g[k]! / perConcept.length), new Float64Array(this.layers * this.heads));
    });
  }

  changeGrids(concept: string): Array<{ pair: string; delta: Float64Array; chance: HeadChance | undefined }> {
    return this.pairs.map((pair) => {
      const rows = this.results.changes.filter((r) => matches(r, this.variant, { concept, sequence: '*', pair }));
      const p = gridOf(rows, 'p_value', this.layers, this.heads);
      const chance = p.some(Number.isFinite) ? { p, q: gridOf(rows, 'q_value', this.layers, this.heads) } : undefined;
      return { pair, delta: gridOf(rows, 'delta', this.layers, this.heads), chance };
    });
  }

  layerCurves(concept: string): Array<{ model: string; values: number[] }> {
    return this.models.map((model) => {
      const rows = this.results.layers.filter((r) => matches(r, this.variant, { concept, model }));
      const values = new Array<number>(this.layers).fill(Number.NaN);
      for (const r of rows) values[Number(r.layer)] = Number(r.share);
      return { model, values };
    });
  }

  /** Head grids, change grids, the distribution and layer curves of one scope. */
  summaryViews(scope: string, result: ScopeResult | undefined, label: string, prefix: string): { html: string; svgs: Page['svgs'] } {
    const svgs: Page['svgs'] = [];
    const add = (name: string, svg: string, caption: string): string => {
      const file = `svg/${prefix}-${name}.svg`;
      svgs.push({ file, svg });
      return figure(svg, file, caption);
    };
    const grids = this.modelGrids(scope);
    const shareValues = grids.flatMap((g) => Array.from(g).filter(Number.isFinite));
    const domain: [number, number] = [Math.min(0, ...shareValues), Math.max(1e-9, ...shareValues)];
    const headGrids = grids.map((g, k) => add(`share-${slug(this.models[k]!)}`, headGridSvg(this.headValues(g), `${label}: share by head, ${this.models[k]}`, domain), `Concept share per layer and head of ${this.models[k]} (one scale for all models).`));
    const changes = this.changeGrids(scope);
    const extent = maxAbs(changes.map((c) => c.delta));
    const changeGrids = changes.map((c) => add(`change-${slug(c.pair)}`, changeGridSvg(this.headValues(c.delta), c.chance, this.alpha, `${label}: Δ share, ${c.pair}`, extent), `Change of share ${c.pair} per head; outlined heads beat chance after Benjamini–Hochberg over the heads (q < ${this.alpha}); each head's p and q are in its tooltip and in changes.csv.`));
    const distributions = result
      ? add(
          'distribution',
          distributionSvg(
            changes.map((c) => ({ pair: c.pair, values: c.delta, distribution: asDistribution(result.changes[c.pair]!) })),
            `${label}: distribution of per-head changes`,
          ),
          'Histogram of Δ over all heads for each pair, with its moments.',
        )
      : '';
    const curves = add('layers', layerCurvesSvg(this.layerCurves(scope), `${label}: share by layer`), 'Concept share by layer (mean over heads), one line per model.');
    const html = `<h3>Share by head</h3><div class="views">${headGrids.join('')}</div>
<h3>Change by head</h3><div class="views">${changeGrids.join('')}</div>
<h3>Distribution of changes and share by layer</h3><div class="views">${distributions}${curves}</div>`;
    return { html, svgs };
  }

  async traceFolder(model: string): Promise<string> {
    const entry = (await readTraceIndex(this.results.dir)).find((m) => m.name === model);
    if (!entry) throw badInput(`${traceIndexFile(this.results.dir)}: has no trace of model ${model}; run legal-attn compare again.`);
    return entry.traceFolder;
  }

  /** The shortest legal sequence of a concept, or the shortest one with two labelled components. */
  async shortestSequence(concept: Results['summary']['concepts'][number], withComponents = false): Promise<string | undefined> {
    const folder = await this.traceFolder(this.models[0]!);
    let best: string | undefined;
    let length = Infinity;
    for (const sequence of concept.sequences) {
      const tokens = await readTokensFile(path.join(folder, concept.id, sequence, 'tokens.json'));
      if (withComponents && componentTokens(tokens.spans).length < 2) continue;
      if (tokens.ids.length < length) [best, length] = [sequence, tokens.ids.length];
    }
    return best;
  }

  /**
   * The chosen layer of one sequence, head-averaged or one head, per model: from the
   * full maps, or from the head-averaged maps compare kept (`--maps mean`); none when
   * compare kept no maps.
   */
  async layerMaps(concept: string, sequence: string): Promise<{ tokens: string[]; spans: TokenSpan[]; maps: Float32Array[]; layer: number; cellTokens?: number }> {
    const layer = this.options.layer ?? this.layers - 1;
    if (layer < 0 || layer >= this.layers) throw badInput(`--layer ${layer} is outside the model's layers 0 to ${this.layers - 1}.`);
    if (this.options.head !== undefined && (this.options.head < 0 || this.options.head >= this.heads)) throw badInput(`--head ${this.options.head} is outside the model's heads 0 to ${this.heads - 1}.`);
    let tokens: string[] = [];
    let spans: TokenSpan[] = [];
    const maps: Float32Array[] = [];
    let cellTokens: number | undefined;
    for (const model of this.models) {
      const folder = path.join(await this.traceFolder(model), concept, sequence);
      const tokensFile = path.join(folder, 'tokens.json');
      const record = await readTokensFile(tokensFile);
      // A hand-made tokens.json may lack the token strings: the axes then show indices.
      ({ spans } = record);
      tokens = record.tokens ?? record.ids.map(String);
      if (!record.attentions) continue;
      const attention = await readNpy(path.join(folder, record.attentions.file));
      const kept = record.attentions.layers;
      if (kept) {
        // Head-averaged maps of the layers compare kept: [kept layers, T, T].
        if (this.options.head !== undefined) throw badInput(`${tokensFile}: compare kept head-averaged maps only; drop --head, or run compare --maps full.`);
        const k = kept.indexOf(layer);
        if (k < 0) throw badInput(`${tokensFile}: compare kept the maps of layers ${kept.join(', ')}; pass --layer ${kept.at(-1)}, or run compare --map-layers ${layer}.`);
        // Long texts' maps are kept pooled into cells; every model's the same way, or they cannot be set side by side.
        if (maps.length > 0 && record.attentions.cellTokens !== cellTokens) throw badInput(`${tokensFile}: its maps are pooled differently from those of ${this.models[0]}; run compare again on all the models.`);
        cellTokens = record.attentions.cellTokens;
        const size = (attention.dims[1] ?? 0) * (attention.dims[2] ?? 0);
        maps.push(attention.data.slice(k * size, (k + 1) * size));
        continue;
      }
      const [, heads = 0, T = 0] = attention.dims;
      const size = T * T;
      const map = new Float32Array(size);
      const chosen = this.options.head === undefined ? Array.from({ length: heads }, (_, h) => h) : [this.options.head];
      for (const h of chosen) {
        const source = attention.data.subarray((layer * heads + h) * size, (layer * heads + h + 1) * size);
        for (let k = 0; k < size; k++) map[k]! += source[k]! / chosen.length;
      }
      maps.push(map);
    }
    return { tokens, spans, maps, layer, ...(cellTokens ? { cellTokens } : {}) };
  }

  async conceptPage(concept: Results['summary']['concepts'][number]): Promise<Page> {
    const result = concept.results.find((r) => r.target === CONCEPT && r.querySet === this.variant.querySet && r.sink === this.variant.sink);
    const views = this.summaryViews(concept.id, result, concept.name, slug(concept.id));
    const svgs = [...views.svgs];
    const add = (name: string, svg: string, caption: string): string => {
      const file = `svg/${slug(concept.id)}-${name}.svg`;
      svgs.push({ file, svg });
      return figure(svg, file, caption);
    };
    // The shortest sequence of legal wording: the most readable map, and the smallest file.
    const sequence = (await this.shortestSequence(concept)) ?? concept.sequences[0]!;
    const { tokens, spans, maps, layer, cellTokens } = await this.layerMaps(concept.id, sequence);
    const conceptTokens = [...new Set(spans.flatMap((s) => s.tokens))];
    const which = this.options.head === undefined ? 'head-averaged' : `head ${this.options.head}`;
    const tokenMap = (map: Float32Array): TokenMap => ({ map, tokens, concept: conceptTokens, ...(cellTokens ? { cellTokens } : {}) });
    const mapped = this.options.mapModels === 'all' ? maps : maps.slice(0, 1);
    const hasMaps = maps.length === this.models.length;
    const attentionMaps = mapped.map((map, k) => add(`map-${slug(this.models[k]!)}`, attentionMapSvg(tokenMap(map), `${concept.name} (${sequence}): layer ${layer}, ${which}, ${this.models[k]}`), `Attention of layer ${layer} (${which}) of ${this.models[k]}.`));
    const differences = (hasMaps ? this.pairs : []).map((pair) => {
      const [after = '', before = ''] = pair.split(':');
      const a = maps[this.models.indexOf(after)]!;
      const b = maps[this.models.indexOf(before)]!;
      return { pair, after, before, map: tokenMap(a.map((v, k) => v - b[k]!)) };
    });
    // One colour scale for every pair of the concept, so that colours compare across pairs.
    const extent = Math.max(1e-9, ...differences.map((d) => differenceExtent(d.map)));
    const differenceMaps = differences.map(({ pair, after, before, map }) =>
      add(`diff-${slug(pair)}`, differenceMapSvg(map, `${concept.name} (${sequence}): layer ${layer}, ${which}, ${pair}`, extent), `Raw attention alteration A_${after} − A_${before}, layer ${layer}; every pair on one scale, ±${extent.toPrecision(2)}.`),
    );
    const structured = hasMaps ? await this.shortestSequence(concept, true) : undefined;
    let componentHtml = '';
    const parts = structured ? await this.layerMaps(concept.id, structured) : undefined;
    if (parts?.cellTokens) {
      componentHtml = `<h3>Component structure</h3><p>Not drawn: this run kept its maps pooled into cells of ${parts.cellTokens} tokens (texts longer than ${FULL_MAP_TOKENS.toLocaleString('en')} tokens), and components are single tokens.</p>`;
    } else if (parts) {
      const components = componentTokens(parts.spans);
      const labels = components.map((c) => c.label);
      const matrices = parts.maps.map((map) => componentAttention(map, parts.tokens.length, components));
      const top = Math.max(1e-9, ...matrices.flatMap((m) => Array.from(m).filter(Number.isFinite)));
      const perModel = matrices.map((values, k) => add(`components-${slug(this.models[k]!)}`, componentMatrixSvg({ components: labels, values }, `${concept.name} (${structured}): components, ${this.models[k]}`, false, top), `Component × component attention of “${structured}”, layer ${layer} (${which}).`));
      const deltas = this.pairs.map((pair) => {
        const [after = '', before = ''] = pair.split(':');
        return { pair, values: matrices[this.models.indexOf(after)]!.map((v, k) => v - matrices[this.models.indexOf(before)]![k]!) };
      });
      const extent = maxAbs(deltas.map((d) => d.values));
      const perPair = deltas.map((d) => add(`components-${slug(d.pair)}`, componentMatrixSvg({ components: labels, values: d.values }, `${concept.name}: components, ${d.pair}`, true, extent), `Change of component × component attention, ${d.pair}.`));
      componentHtml = `<h3>Component structure</h3><div class="views">${[...perModel, ...perPair].join('')}</div>`;
    }
    const rows = this.models.map((model) => `<tr><td>${escapeHtml(model)}</td>${numberCell(result?.models[model]?.share)}${numberCell(result?.models[model]?.lift, 2)}${numberCell(result?.models[model]?.entropy, 3)}${numberCell(result?.models[model]?.rollout)}</tr>`);
    const pairRows = this.pairs.map((pair) => {
      const c = result?.changes[pair];
      return `<tr><td>${escapeHtml(pair)}</td>${numberCell(c?.meanDelta, 4, true)}${numberCell(c?.medianDelta, 4, true)}${numberCell(c?.skewness, 2)}${numberCell(c?.kurtosis, 2)}${numberCell(c?.fractionRose, 2)}<td data-value="${c?.headsBeatingChance ?? ''}">${c?.headsBeatingChance ?? 'n/a'} / ${c?.heads ?? 0} (chance: ${c?.expectedByChance ?? 'n/a'}; count p ${c?.countPValue?.toPrecision(2) ?? 'n/a'})</td>${intervalCell(c?.replication?.meanDelta)}</tr>`;
    });
    const choiceTable = conceptChoices(concept.robustness ?? [], this.pairs);
    // The second lens follows the attention views of the concept.
    const representations = conceptRepresentations(this.results.summary.representations, concept, this.pairs, this.alpha);
    svgs.push(...representations.svgs);
    const html = page(
      `${concept.name} · legal-attn`,
      `<nav><a href="index.html">← all concepts</a></nav>
<h1>${escapeHtml(concept.name)}</h1>
<p class="muted">${escapeHtml(concept.area ?? '')}${concept.source ? ` · sources: ${escapeHtml(concept.source)}` : ''}<br>sequences: ${concept.sequences.map(escapeHtml).join(', ')} · query set ${escapeHtml(this.variant.querySet)}, sink included</p>
<table><thead><tr><th>model</th><th>share</th><th>lift over controls</th><th>entropy</th><th>rollout share</th></tr></thead><tbody>${rows.join('')}</tbody></table>
<table><thead><tr><th>pair</th><th>mean Δ</th><th>median Δ</th><th>skewness g1</th><th>excess kurtosis g2</th><th>fraction rose</th><th>heads beating chance</th><th>mean Δ, 95 % bootstrap over sequences</th></tr></thead><tbody>${pairRows.join('')}</tbody></table>
${choiceTable}
<h2>Structure and wording</h2>
<p class="muted">Structure alignment: attention between declared component pairs minus between the others (p matched on token distance and component size). Contrast: concept share on the legal term minus on its plain paraphrase.</p>
${structureTable([concept], this.models, this.pairs, false)}
${wordingTable([concept], this.models, this.pairs, false)}
${views.html}
${
  hasMaps
    ? `<h2>Attention maps of “${escapeHtml(sequence)}”</h2><div class="views">${attentionMaps.join('')}</div>
<h3>Difference maps</h3><div class="views">${differenceMaps.join('')}</div>`
    : '<p class="muted">No attention maps: compare ran with --maps none.</p>'
}
${componentHtml}
${representations.html}`,
      true,
    );
    return { file: `${slug(concept.id)}.html`, html, svgs };
  }

  indexPage(): Page {
    const { summary } = this.results;
    const overall = summary.overall.find((r) => r.target === CONCEPT && r.querySet === this.variant.querySet && r.sink === this.variant.sink);
    const views = this.summaryViews('*', overall, 'All concepts', 'overall');
    const representations = indexRepresentations(summary.representations, this.pairs, this.alpha);
    const modelRows = summary.models.map((m) => `<tr><td>${escapeHtml(m.name)}</td><td class="text"><code title="${escapeHtml(m.contentHash)}">${escapeHtml(m.contentHash.slice(0, 16))}</code></td><td class="text">${escapeHtml(m.dir)}</td><td>${m.layers} × ${m.heads}</td></tr>`);
    const head = `<tr><th>concept</th><th>area</th><th>sequences</th>${this.models.map((m) => `<th>share ${escapeHtml(m)}</th>`).join('')}${this.pairs.map((p) => `<th>mean Δ ${escapeHtml(p)}</th><th>skew ${escapeHtml(p)}</th><th>beat chance ${escapeHtml(p)}</th>`).join('')}</tr>`;
    const o = summary.options;
    const conceptRows = summary.concepts.map((c) => {
      const r = c.results.find((x) => x.target === CONCEPT && x.querySet === this.variant.querySet && x.sink === this.variant.sink);
      return `<tr><td><a href="${escapeHtml(slug(c.id))}.html">${escapeHtml(c.name)}</a></td><td class="text">${escapeHtml(c.area ?? '')}</td><td>${c.sequences.length}</td>${this.models.map((m) => numberCell(r?.models[m]?.share)).join('')}${this.pairs
        .map((p) => `${numberCell(r?.changes[p]?.meanDelta, 4, true)}${numberCell(r?.changes[p]?.skewness, 2)}${beatChanceCell(r?.changes[p], o.alpha)}`)
        .join('')}</tr>`;
    });
    const definitions = Object.entries(summary.definitions).map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`);
    const html = page(
      'legal-attn report',
      `<h1>Attention on legal concepts</h1>
<p class="muted">legal-attn ${escapeHtml(summary.tool.version)} · ${summary.concepts.length} concepts · pairs ${o.pairs.map(escapeHtml).join(', ')} · query set ${escapeHtml(this.variant.querySet)}, sink included · seed ${o.seed}, ${o.controls} control runs of each width per sequence at most, alpha ${o.alpha} · chat template: ${o.chatTemplate ? 'yes (each sequence wrapped as a user message)' : 'no (raw text, as in the study)'}</p>
${headlineSection(summary, this.pairs, this.variant)}
<h2>Models</h2>
<table><thead><tr><th>model</th><th>content hash</th><th>folder</th><th>layers × heads</th></tr></thead><tbody>${modelRows.join('')}</tbody></table>
<details><summary>Definitions</summary><dl>${definitions.join('')}</dl></details>
<h2>Concepts</h2>
<p class="muted">Click a column to sort. “beat chance”: heads whose change has p &lt; ${o.alpha} against the run's negative-control words, each span judged against control runs of its own class; about ${(o.alpha * this.layers * this.heads).toFixed(1)} would by chance alone. <strong>*</strong>: more heads than chance gives (count p &lt; ${o.alpha} against the negative-control words' own counts, so the dependence between heads is kept).</p>
<table class="sortable" id="concepts"><thead>${head}</thead><tbody>${conceptRows.join('')}</tbody></table>
<h2>Which conclusions hold under every choice?</h2>
${robustnessTable(summary, this.pairs)}
<h2>Does attention follow the structure of a concept?</h2>
<p class="muted">For concepts with declared components: structure alignment per model (mean attention between declared component pairs minus between undeclared pairs, head- and layer-averaged) and its change per pair, each with a p-value matched on token distance and component size.</p>
${structureTable(summary.concepts, this.models, this.pairs, true, summary.structure)}
<h2>Legal wording vs plain wording</h2>
<p class="muted">Concept share (mean over heads) on the legal term and on its plain paraphrase in the control sequence, their contrast (legal − plain) per model, and its change per pair.</p>
${wordingTable(summary.concepts, this.models, this.pairs, true)}
<h2>All concepts</h2>
${views.html}
${representations.html}`,
      true,
    );
    return { file: 'index.html', html, svgs: [...views.svgs, ...representations.svgs] };
  }
}

/**
 * `report`: the HTML report of a compare results folder, one folder that opens from
 * disk: index.html (models, definitions, a sortable table of concepts, the overall
 * views, then the representation measures) and a page per concept with every view,
 * its representation change last; each SVG inline and beside it.
 */
export async function writeReport(resultsDir: string, options: ReportOptions = {}): Promise<ReportSummary> {
  const results = await readResults(resultsDir);
  const builder = new ReportBuilder(results, options);
  const pages = [builder.indexPage()];
  for (const concept of results.summary.concepts) pages.push(await builder.conceptPage(concept));
  const out = path.resolve(options.out ?? path.join(resultsDir, 'report'));
  const files: string[] = [];
  let bytes = 0;
  await writeFolderWhole(out, async (staging) => {
    for (const p of pages) {
      for (const { file, svg } of [{ file: p.file, svg: p.html }, ...p.svgs]) {
        await writeFileWhole(path.join(staging, file), svg);
        files.push(file);
        bytes += Buffer.byteLength(svg);
      }
    }
  });
  return { out, index: path.join(out, 'index.html'), files, bytes };
}
