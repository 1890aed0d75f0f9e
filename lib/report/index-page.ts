import { skewnessUndefined } from '../measure/distribution.js';
import { escapeHtml, numberCell, page, slug } from './html.js';
import { headlineSection } from './headline.js';
import { indexKnockout } from './knockout-section.js';
import { indexRepresentations } from './representations-section.js';
import { lensChoice } from './lens.js';
import { isOfVariant, ReportBuilder, type Page } from './report-builder.js';
import { beatChanceCell, robustnessTable, structureTable, wordingTable } from './tables.js';

/** The index's tables measured on attention alone: robustness over choices, structure, wording. */
function attentionOnly(report: ReportBuilder): string {
  const { summary } = report.results;
  return `<h2>Which conclusions hold under every choice?</h2>
${robustnessTable(summary, report.pairs)}
<h2>Does attention follow the structure of a concept?</h2>
<p class="muted">For concepts with declared components: structure alignment per model (mean attention between declared component pairs minus between undeclared pairs, head- and layer-averaged) and its change per pair, each with a p-value matched on token distance and component size.</p>
${structureTable(summary.concepts, report.models, report.pairs, true, summary.structure)}
<h2>Legal wording vs plain wording</h2>
<p class="muted">Concept share (mean over heads) on the legal term and on its plain paraphrase in the control sequence, their contrast (legal − plain) per model, and its change per pair.</p>
${wordingTable(summary.concepts, report.models, report.pairs, true)}`;
}

/** The index: the answer first, then the concepts and their tables, the models and options, and the views over all concepts. */
export function indexPage(report: ReportBuilder): Page {
  const { summary } = report.results;
  const overall = summary.overall.find((r) => isOfVariant(r, report.variant));
  const views = report.summaryViews('*', overall, 'All concepts', 'overall');
  // the lens-free sections are drawn once, on the attention pages
  const attention = report.variant.lens === 'attention';
  const representations = attention ? indexRepresentations(summary.representations, report.pairs, report.alpha) : { html: '', svgs: [] };
  const knockout = attention ? indexKnockout(summary.knockout, report.models, report.pairs, report.alpha) : { html: '' };
  const modelRows = summary.models.map((m) => `<tr><td>${escapeHtml(m.name)}</td><td class="text"><code title="${escapeHtml(m.contentHash)}">${escapeHtml(m.contentHash.slice(0, 16))}</code></td><td class="text">${escapeHtml(m.dir)}</td><td>${m.layers} × ${m.heads}</td></tr>`);
  const head = `<tr><th>concept</th><th>area</th><th>sequences</th>${report.models.map((m) => `<th>${report.shareName} ${escapeHtml(m)}</th>`).join('')}${report.pairs.map((p) => `<th>mean Δ ${escapeHtml(p)}</th><th>skew ${escapeHtml(p)}</th><th>beat chance ${escapeHtml(p)}</th>`).join('')}</tr>`;
  const o = summary.options;
  const conceptRows = summary.concepts.map((c) => {
    const r = c.results.find((x) => isOfVariant(x, report.variant));
    return `<tr><td><a href="${escapeHtml(slug(c.id))}.html">${escapeHtml(c.name)}</a></td><td class="text">${escapeHtml(c.area ?? '')}</td><td>${c.sequences.length}</td>${report.models.map((m) => numberCell(r?.models[m]?.share)).join('')}${report.pairs
      .map((p) => `${numberCell(r?.changes[p]?.meanDelta, 4, true)}${numberCell(r?.changes[p]?.skewness, 2, false, `skewness not defined: ${skewnessUndefined(r?.changes[p]?.heads ?? 0)}`)}${beatChanceCell(r?.changes[p], o.alpha)}`)
      .join('')}</tr>`;
  });
  const definitions = Object.entries(summary.definitions).map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`);
  const html = page(
    'legal-attn report',
    `<h1>Attention on legal concepts</h1>
<p class="muted">legal-attn ${escapeHtml(summary.tool.version)} · ${summary.concepts.length} concepts · pairs ${o.pairs.map(escapeHtml).join(', ')} · query set ${escapeHtml(report.variant.querySet)}, sink included · seed ${o.seed}, ${o.controls} control runs of each width per sequence at most, alpha ${o.alpha} · chat template: ${o.chatTemplate ? 'yes (each sequence wrapped as a user message)' : 'no (raw text, as in the study)'}</p>
${lensChoice(report, 'index.html')}
${headlineSection(summary, report.pairs, report.variant)}
<h2>Concepts</h2>
<p class="muted">Click a column to sort. “beat chance”: heads whose change has p &lt; ${o.alpha} against the run's negative-control words, each span judged against control runs of its own class; about ${(o.alpha * report.layers * report.heads).toFixed(1)} would by chance alone. <strong>*</strong>: more heads than chance gives (count p &lt; ${o.alpha} against the negative-control words' own counts, so the dependence between heads is kept).</p>
<table class="sortable" id="concepts"><thead>${head}</thead><tbody>${conceptRows.join('')}</tbody></table>
${attention ? attentionOnly(report) : `<p class="muted">Robustness over choices, structure and wording, representations and knockout are on the <a href="../index.html">attention pages</a>: they are measured on attention alone, or on no lens.</p>`}
<h2 id="run">Models and run</h2>
<table><thead><tr><th>model</th><th>content hash</th><th>folder</th><th>layers × heads</th></tr></thead><tbody>${modelRows.join('')}</tbody></table>
<details><summary>Definitions</summary><dl>${definitions.join('')}</dl></details>
<h2>All concepts</h2>
${views.html}
${representations.html}
${knockout.html}`,
    true,
  );
  return { file: 'index.html', html, svgs: [...views.svgs, ...representations.svgs] };
}
