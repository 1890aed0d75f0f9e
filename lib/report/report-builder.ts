import path from 'node:path';
import { badInput } from '../errors.js';
import { readNpy } from '../io/npy.js';
import { componentTokens } from '../measure/component-attention.js';
import type { Distribution } from '../measure/distribution.js';
import type { Lens } from '../measure/measure-sequence.js';
import { changeGridSvg, headGridSvg, type HeadChance, type HeadValues } from '../render/head-grid.js';
import { distributionSvg } from '../render/histogram.js';
import { layerCurvesSvg } from '../render/layer-curves.js';
import type { TokenSpan } from '../tokenize/align-spans.js';
import { figure, slug } from './html.js';
import { readTokensFile } from '../results/tokens-file.js';
import { readTraceIndex, traceIndexFile } from '../results/trace-index.js';
import { type ChangeSummary, type Results, type Row, type ScopeResult } from '../results/summary-file.js';

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

export interface Page {
  file: string;
  html: string;
  svgs: Array<{ file: string; svg: string }>;
}

/** The variant every attention view of a report draws: a query set, a sink mode and a lens. */
export interface ReportVariant {
  querySet: string;
  sink: string;
  lens: Lens;
}

export const CONCEPT = 'concept';

/** Each lens's name on the page. */
export const LENS_LABELS: Record<Lens, string> = { attention: 'attention (α)', value: 'value-weighted (‖α·v W_O‖)' };

/** The lens of a scope or CSV row: absent in folders written before the value lens, which measured attention only. */
const lensOf = (v: { lens?: string | undefined }): string => v.lens || 'attention';

/** Whether a summary.json scope is of the report's variant. */
export const isOfVariant = (r: ScopeResult, variant: ReportVariant): boolean => r.target === CONCEPT && r.querySet === variant.querySet && r.sink === variant.sink && lensOf(r) === variant.lens;

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

const matches = (row: Row, variant: ReportVariant, fields: Record<string, string>): boolean =>
  row.target === CONCEPT && row.query_set === variant.querySet && row.sink === variant.sink && lensOf(row) === variant.lens && Object.entries(fields).every(([k, v]) => row[k] === v);

export const maxAbs = (arrays: readonly Float64Array[]): number => Math.max(1e-9, ...arrays.flatMap((a) => Array.from(a).filter(Number.isFinite).map(Math.abs)));

export function asDistribution(c: ChangeSummary): Distribution {
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

/** What every page of a report reads: the results, the models, pairs and variant drawn, and each view's data. */
export class ReportBuilder {
  readonly layers: number;
  readonly heads: number;
  readonly models: string[];
  readonly pairs: string[];
  readonly variant: ReportVariant;
  readonly alpha: number;

  constructor(
    readonly results: Results,
    readonly options: ReportOptions,
    lens: Lens = 'attention',
  ) {
    const { summary } = results;
    this.layers = summary.models[0]?.layers ?? 0;
    this.heads = summary.models[0]?.heads ?? 0;
    this.models = summary.models.map((m) => m.name);
    this.pairs = summary.options.pairs;
    this.variant = { querySet: summary.options.querySets[0] ?? 'all', sink: 'include', lens };
    this.alpha = summary.options.alpha;
  }

  private readonly groups = new Map<string, Map<string, Row[]>>();

  /** The rows of the report's variant in one CSV of concept and one other column: grouped on first use, since every view of every page asks. */
  private rowsOf(file: 'shares' | 'changes' | 'layers', column: 'model' | 'pair', concept: string, value: string): Row[] {
    let groups = this.groups.get(file);
    if (!groups) {
      groups = new Map();
      for (const row of this.results[file]) {
        if (!matches(row, this.variant, file === 'changes' ? { sequence: '*' } : {})) continue;
        const key = `${row.concept}\u0000${row[column]}`;
        const group = groups.get(key);
        if (group) group.push(row);
        else groups.set(key, [row]);
      }
      this.groups.set(file, groups);
    }
    return groups.get(`${concept}\u0000${value}`) ?? [];
  }

  /** What the views call the measure: the share of attention, or its value-weighted twin. */
  get shareName(): string {
    return this.variant.lens === 'value' ? 'value-weighted share' : 'share';
  }

  private headValues(values: Float64Array): HeadValues {
    return { values, layers: this.layers, heads: this.heads };
  }

  /** Per-model grids of a concept (mean over its sequences), or of all concepts (`*`, mean over concepts). */
  modelGrids(concept: string): Float64Array[] {
    return this.models.map((model) => {
      if (concept !== '*') return gridOf(this.rowsOf('shares', 'model', concept, model), 'share', this.layers, this.heads);
      const perConcept = this.results.summary.concepts.map((c) => gridOf(this.rowsOf('shares', 'model', c.id, model), 'share', this.layers, this.heads));
      return perConcept.reduce((acc, g) => acc.map((v, k) => v + g[k]! / perConcept.length), new Float64Array(this.layers * this.heads));
    });
  }

  changeGrids(concept: string): Array<{ pair: string; delta: Float64Array; chance: HeadChance | undefined }> {
    return this.pairs.map((pair) => {
      const rows = this.rowsOf('changes', 'pair', concept, pair);
      const p = gridOf(rows, 'p_value', this.layers, this.heads);
      const chance = p.some(Number.isFinite) ? { p, q: gridOf(rows, 'q_value', this.layers, this.heads) } : undefined;
      return { pair, delta: gridOf(rows, 'delta', this.layers, this.heads), chance };
    });
  }

  layerCurves(concept: string): Array<{ model: string; values: number[] }> {
    return this.models.map((model) => {
      const rows = this.rowsOf('layers', 'model', concept, model);
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
    const headGrids = grids.map((g, k) => add(`share-${slug(this.models[k]!)}`, headGridSvg(this.headValues(g), `${label}: ${this.shareName} by head, ${this.models[k]}`, domain), `Concept ${this.shareName} per layer and head of ${this.models[k]} (one scale for all models).`));
    const changes = this.changeGrids(scope);
    const extent = maxAbs(changes.map((c) => c.delta));
    const changeGrids = changes.map((c) => add(`change-${slug(c.pair)}`, changeGridSvg(this.headValues(c.delta), c.chance, this.alpha, `${label}: Δ ${this.shareName}, ${c.pair}`, extent), `Change of ${this.shareName} ${c.pair} per head; outlined heads beat chance after Benjamini–Hochberg over the heads (q < ${this.alpha}); each head's p and q are in its tooltip and in changes.csv.`));
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
    const curves = add('layers', layerCurvesSvg(this.layerCurves(scope), `${label}: ${this.shareName} by layer`), `Concept ${this.shareName} by layer (mean over heads), one line per model.`);
    const html = `<h3>${this.variant.lens === 'value' ? 'Value-weighted share' : 'Share'} by head</h3><div class="views">${headGrids.join('')}</div>
<h3>Change by head</h3><div class="views">${changeGrids.join('')}</div>
<h3>Distribution of changes and ${this.shareName} by layer</h3><div class="views">${distributions}${curves}</div>`;
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
}
