import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { JSDOM } from 'jsdom';
import { exact } from '../../lib/render/svg.js';
import { writeReport } from '../../lib/report/build-report.js';
import { slug } from '../../lib/report/html.js';
import type { RepresentationsSummary, Summary } from '../../lib/results/summary-file.js';
import { compareCheckpoints } from '../../lib/commands/compare.js';
import { listFiles, modelDir, ROOT, temporaryFolder } from '../helpers.js';
import { parseSvg, texts } from '../render/svg-helpers.js';

const MODELS = ['base', 'cpt', 'ift'] as const;
// The shipped library: enough words of the texts recur to judge every concept against them.
const CONCEPTS = path.join(ROOT, 'concepts');

const readJson = async <T>(file: string): Promise<T> => JSON.parse(await readFile(file, 'utf8')) as T;
const htmlOf = async (file: string): Promise<Document> => new JSDOM(await readFile(file, 'utf8')).window.document;
const svgOf = async (report: string, file: string): Promise<Document> => parseSvg(await readFile(path.join(report, file), 'utf8'));
const cellTexts = (row: Element | null): string[] => Array.from(row?.querySelectorAll('td') ?? [], (td) => td.textContent ?? '');

/** A concept's count row as the report should write it, from summary.json's numbers. */
function expectedCountRow(c: RepresentationsSummary['changes'][number], states: number, alpha: number): string[] {
  if (c.untested) return [c.pair, `no chance test: ${c.untested}`];
  const below = (c.pValue ?? []).flatMap((p, l) => (p !== null && p < alpha ? [`${l} ${(c.effect?.[l] ?? 0) > 0 ? '↑' : '↓'}`] : []));
  const star = c.countPValue !== null && c.countPValue !== undefined && c.countPValue < alpha ? ' *' : '';
  return [c.pair, below.length > 0 ? below.join(', ') : 'none', `${c.layersBeatingChance} of ${states}${star}`, c.expectedByChance!.toFixed(2), c.countPValue!.toPrecision(2)];
}

/** A copy of a results folder whose summary.json's representations section is replaced. */
async function withRepresentations(results: string, section: unknown): Promise<string> {
  const copy = path.join(await temporaryFolder(), 'results');
  await cp(results, copy, { recursive: true });
  const summary = await readJson<Record<string, unknown>>(path.join(copy, 'summary.json'));
  await writeFile(path.join(copy, 'summary.json'), JSON.stringify({ ...summary, representations: section }));
  return copy;
}

describe('the report shows the representation measures beside attention', function () {
  this.timeout(600_000);
  let results = '';
  let report = '';
  let summary: Summary;
  let section: RepresentationsSummary;

  before(async () => {
    results = path.join(await temporaryFolder(), 'results');
    await compareCheckpoints({ models: MODELS.map((name) => ({ name, dir: modelDir(name) })), concepts: CONCEPTS, out: results });
    summary = await readJson<Summary>(path.join(results, 'summary.json'));
    assert.ok(summary.representations && !('skipped' in summary.representations), 'compare measured representations');
    section = summary.representations;
    report = path.join(await temporaryFolder(), 'report');
    await writeReport(results, { out: report });
  });

  it('gives the index a Representations section after the attention views, with one CKA heatmap of concepts and one of tokens per pair', async () => {
    const doc = await htmlOf(path.join(report, 'index.html'));
    const headings = Array.from(doc.querySelectorAll('h2'), (h) => h.textContent);
    assert.equal(headings.at(-1), 'Representations');
    assert.ok(headings.indexOf('All concepts') < headings.indexOf('Representations'));
    const pairs = summary.options.pairs;
    for (const kind of ['concepts', 'tokens']) {
      const views = Array.from(doc.querySelectorAll(`figure[data-view^="svg/overall-cka-${kind}-"]`), (f) => f.getAttribute('data-view'));
      assert.deepEqual(views, pairs.map((p) => `svg/overall-cka-${kind}-${slug(p)}.svg`));
    }
    const files = await listFiles(report);
    for (const p of pairs) assert.ok(files.includes(`svg/overall-cka-concepts-${slug(p)}.svg`) && files.includes(`svg/overall-cka-tokens-${slug(p)}.svg`), p);
  });

  it('draws each CKA matrix state × state with the value of summary.json in each cell', async () => {
    const cka = section.cka[0]!;
    const [after, before] = cka.pair.split(':');
    const doc = await svgOf(report, `svg/overall-cka-concepts-${slug(cka.pair)}.svg`);
    const cells = texts(doc, 'g.cells g rect title');
    assert.equal(cells.length, section.states * section.states);
    const last = section.states - 1;
    assert.equal(cells[last], `${after} state 0 × ${before} state ${last}: CKA ${exact(cka.concepts[0]![last]!)}`);
    assert.ok(texts(doc, 'text.axis-label').includes(`${before}: state layer`));
    assert.ok(texts(doc, 'text.axis-label').includes(`${after}: state layer`));
  });

  it('draws the overall change of each pair, and counts for each pair the concepts beating chance beside the negative controls', async () => {
    const doc = await htmlOf(path.join(report, 'index.html'));
    for (const pair of summary.options.pairs) {
      const overall = section.changes.find((c) => c.scope === '*' && c.pair === pair)!.overall!;
      const row = cellTexts(doc.querySelector(`table.representation-overall tr[data-pair="${pair}"]`));
      const beyond = section.changes.filter((c) => c.scope !== '*' && c.pair === pair && c.countPValue !== null && c.countPValue !== undefined && c.countPValue < summary.options.alpha).length;
      assert.equal(overall.conceptsBeatingChance, beyond);
      const own = (section.negativeControls ?? []).filter((n) => n.pair === pair && n.sequences >= 2);
      const words = own.reduce((n, r) => n + r.words, 0);
      const rate = own.reduce((n, r) => n + r.countBelowAlpha * r.words, 0) / words;
      assert.deepEqual(row, [pair, `${beyond} of ${summary.concepts.length}${overall.pValue < summary.options.alpha ? ' *' : ''}`, overall.expectedByChance.toFixed(1), overall.pValue.toPrecision(2), `${(100 * rate).toFixed(1)} % of ${words}`]);
      assert.ok(doc.querySelector(`figure[data-view="svg/overall-repr-change-${slug(pair)}.svg"]`), pair);
    }
  });

  it('draws probe accuracy per model with its chance level, paraphrase distance per model, and lists the definitions', async () => {
    const doc = await htmlOf(path.join(report, 'index.html'));
    const area = await svgOf(report, 'svg/overall-probe-area.svg');
    assert.deepEqual(texts(area, 'text.legend-label'), [...MODELS]);
    const chances = section.models.flatMap((m) => m.areaProbe.map((p) => p.chance!));
    assert.deepEqual(texts(area, 'g.reference title'), [`chance: ${exact(chances.reduce((a, b) => a + b, 0) / chances.length)}`]);
    const probe = section.models[1]!.conceptProbe[2]!;
    assert.ok(texts(await svgOf(report, 'svg/overall-probe-concept.svg'), 'circle title').includes(`cpt, state 2: ${exact(probe.accuracy!)}`));
    const paraphrase = await svgOf(report, 'svg/overall-paraphrase.svg');
    assert.ok(texts(paraphrase, 'circle title').includes(`base, state 0: ${exact(section.models[0]!.paraphraseDistance[0]!)}`));
    const terms = Array.from(doc.querySelectorAll('dl.representation-definitions dd'), (d) => d.textContent);
    assert.deepEqual(terms, Object.values(section.definitions));
  });

  it("gives each concept page a Representations section after its attention views: per pair its change curve and count test", async () => {
    const { alpha } = summary.options;
    for (const concept of summary.concepts) {
      const doc = await htmlOf(path.join(report, `${slug(concept.id)}.html`));
      const headings = Array.from(doc.querySelectorAll('h2'), (h) => h.textContent);
      assert.equal(headings.at(-1), 'Representations', concept.id);
      for (const pair of summary.options.pairs) {
        const change = section.changes.find((c) => c.scope === concept.id && c.pair === pair)!;
        const file = `svg/${slug(concept.id)}-repr-change-${slug(pair)}.svg`;
        assert.ok(doc.querySelector(`figure[data-view="${file}"]`), file);
        const svg = await svgOf(report, file);
        assert.equal(svg.querySelectorAll('path.curve').length, 2);
        const points = texts(svg, 'circle title');
        assert.ok(points.includes(`controls, state 0: ${exact(change.control[0]!)}`), points.join(' | '));
        const ringed = (change.pValue ?? []).filter((p) => p !== null && p < alpha).length;
        // One ring per state at p < alpha (the legend's ring has no class).
        assert.equal(svg.querySelectorAll('circle.marked').length, ringed, `${concept.id} ${pair}`);
        assert.deepEqual(cellTexts(doc.querySelector(`table.representation-counts tr[data-pair="${pair}"]`)), expectedCountRow(change, section.states, alpha));
      }
    }
    // The tiny family moves some concept's state beyond chance somewhere: the list of states is exercised, not only "none".
    assert.ok(section.changes.some((c) => c.scope !== '*' && (c.pValue ?? []).some((p) => p !== null && p < alpha)));
  });

  it('says why representations were not measured, and on every page', async () => {
    const copy = await withRepresentations(results, { skipped: 'the residual additions are fused into SkipSimplifiedLayerNormalization' });
    const out = path.join(await temporaryFolder(), 'report');
    await writeReport(copy, { out });
    const sentence = 'Representations were not measured: the residual additions are fused into SkipSimplifiedLayerNormalization';
    for (const page of ['index.html', `${slug(summary.concepts[0]!.id)}.html`]) {
      const doc = await htmlOf(path.join(out, page));
      assert.equal(doc.querySelector('p.representations-skipped')?.textContent, sentence, page);
    }
    assert.ok(!(await listFiles(out)).some((f) => /repr-change|cka-|probe-/.test(f)));
  });

  it('leaves the section out when representations were not asked for (null), and for folders written before them', async () => {
    for (const value of [null, undefined]) {
      const out = path.join(await temporaryFolder(), 'report');
      await writeReport(await withRepresentations(results, value), { out });
      for (const page of ['index.html', `${slug(summary.concepts[0]!.id)}.html`]) {
        const doc = await htmlOf(path.join(out, page));
        assert.ok(!Array.from(doc.querySelectorAll('h2'), (h) => h.textContent).includes('Representations'), `${page}, ${String(value)}`);
        assert.equal(doc.querySelector('p.representations-skipped'), null);
      }
      assert.ok(!(await listFiles(out)).some((f) => /repr-change|cka-|probe-/.test(f)));
    }
  });

  it('refuses a representations section of another form, naming the field', async () => {
    const copy = await withRepresentations(results, { ...section, states: 'seven' });
    await assert.rejects(writeReport(copy, { out: path.join(await temporaryFolder(), 'report') }), /summary\.json: field representations\.states .*expected number.*; run legal-attn compare again/);
  });
});
