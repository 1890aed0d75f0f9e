import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { JSDOM } from 'jsdom';
import { exact } from '../../lib/render/svg.js';
import { writeReport } from '../../lib/report/build-report.js';
import { slug } from '../../lib/report/html.js';
import type { ScopeResult, Summary } from '../../lib/results/summary-file.js';
import { compareCheckpoints } from '../../lib/commands/compare.js';
import { listFiles, modelDir, probeConcepts, temporaryFolder } from '../helpers.js';
import { parseSvg, texts } from '../render/svg-helpers.js';

const MODELS = ['base', 'cpt'] as const;
const PAIR = 'cpt:base';

type Row = Record<string, string>;
const readJson = async <T>(file: string): Promise<T> => JSON.parse(await readFile(file, 'utf8')) as T;
const htmlOf = async (file: string): Promise<Document> => new JSDOM(await readFile(file, 'utf8')).window.document;
const dataValues = (row: Element | null | undefined): string[] => Array.from(row?.querySelectorAll('td') ?? [], (td) => td.getAttribute('data-value') ?? '');
/** A concept-table row by the concept's link. */
const conceptRow = (doc: Document, id: string): Element | null | undefined => doc.querySelector(`#concepts a[href="${slug(id)}.html"]`)?.closest('tr');
const scopeOf = (results: readonly ScopeResult[], lens: 'attention' | 'value'): ScopeResult => results.find((r) => r.target === 'concept' && r.querySet === 'all' && r.sink === 'include' && (r.lens ?? 'attention') === lens)!;

describe('the report reads the value-weighted lens', function () {
  this.timeout(600_000);
  let results = '';
  let report = '';
  let summary: Summary;
  let shares: Row[];

  before(async () => {
    const concepts = await probeConcepts(path.join(await temporaryFolder(), 'concepts'));
    results = path.join(await temporaryFolder(), 'results');
    await compareCheckpoints({ models: MODELS.map((name) => ({ name, dir: modelDir(name) })), concepts, out: results, representations: false });
    summary = await readJson<Summary>(path.join(results, 'summary.json'));
    shares = parse<Row>(await readFile(path.join(results, 'shares.csv'), 'utf8'), { columns: true });
    report = path.join(await temporaryFolder(), 'report');
    await writeReport(results, { out: report });
  });

  it('keeps attention the default view and links every page to its value-weighted twin under value/', async () => {
    const files = await listFiles(report);
    for (const page of ['index.html', ...summary.concepts.map((c) => `${slug(c.id)}.html`)]) {
      assert.ok(files.includes(`value/${page}`), page);
      const attention = await htmlOf(path.join(report, page));
      assert.equal(attention.querySelector('p.lens-choice')?.textContent, 'Lens: attention (α) · value-weighted (‖α·v W_O‖)');
      assert.equal(attention.querySelector('p.lens-choice a[data-lens="value"]')?.getAttribute('href'), `value/${page}`);
      const value = await htmlOf(path.join(report, 'value', page));
      assert.equal(value.querySelector('p.lens-choice strong')?.textContent, 'value-weighted (‖α·v W_O‖)');
      assert.equal(value.querySelector('p.lens-choice a[data-lens="attention"]')?.getAttribute('href'), `../${page}`);
    }
    // the attention pages draw the attention scopes, as before the value lens
    const index = await htmlOf(path.join(report, 'index.html'));
    for (const concept of summary.concepts) {
      const a = scopeOf(concept.results, 'attention');
      assert.deepEqual(dataValues(conceptRow(index, concept.id)).slice(3, 6), [String(a.models.base!.share), String(a.models.cpt!.share), String(a.changes[PAIR]!.meanDelta)]);
    }
  });

  it("draws the value pages' findings, concept table and concept tables from summary.json's value-lens scopes", async () => {
    const overall = scopeOf(summary.overall, 'value');
    const attention = scopeOf(summary.overall, 'attention');
    assert.notEqual(overall.changes[PAIR]!.meanDelta, attention.changes[PAIR]!.meanDelta, 'the lenses differ');
    const index = await htmlOf(path.join(report, 'value', 'index.html'));
    const mean = overall.changes[PAIR]!.meanDelta!;
    const headline = index.querySelector(`table.findings tr[data-pair="${PAIR}"] td.mean span`)?.textContent;
    assert.equal(headline, `${mean > 0 ? '+' : '−'}${Math.abs(mean).toExponential(2)}`);
    assert.match(index.querySelector(`ul.answer li[data-pair="${PAIR}"]`)?.textContent ?? '', /value-weighted attention to the concepts/);
    for (const concept of summary.concepts) {
      const v = scopeOf(concept.results, 'value');
      assert.deepEqual(dataValues(conceptRow(index, concept.id)).slice(3, 6), [String(v.models.base!.share), String(v.models.cpt!.share), String(v.changes[PAIR]!.meanDelta)], concept.id);
      const page = await htmlOf(path.join(report, 'value', `${slug(concept.id)}.html`));
      const models = Array.from(page.querySelectorAll('table.model-measures tbody tr'), (row) => dataValues(row).slice(1));
      // share and lift, and no entropy or rollout: neither is defined for this lens
      assert.deepEqual(models, MODELS.map((m) => [String(v.models[m]!.share), String(v.models[m]!.lift), '', '']));
      assert.equal(page.querySelector('table.model-measures td.na')?.getAttribute('title'), 'not defined for the value-weighted lens');
      const c = v.changes[PAIR]!;
      assert.deepEqual(dataValues(page.querySelector('table.pair-changes tbody tr')).slice(1, 6), [String(c.meanDelta), String(c.medianDelta), String(c.skewness), String(c.kurtosis), String(c.fractionRose)]);
      // the maps are of α: drawn on the attention page only
      assert.equal(page.querySelector('figure[data-view*="-map-"]'), null);
    }
  });

  it("draws the value pages' head grids from shares.csv's value-lens rows", async () => {
    const concept = summary.concepts[0]!.id;
    const rows = shares.filter((r) => r.concept === concept && r.model === 'cpt' && r.target === 'concept' && r.query_set === 'all' && r.sink === 'include' && r.lens === 'value');
    assert.ok(rows.length > 0);
    // one sequence per probe: each head's value is its row's
    const expected = rows.map((r) => `L${r.layer} H${r.head}: ${exact(Number(r.share))}`);
    const svg = parseSvg(await readFile(path.join(report, 'value', 'svg', `${slug(concept)}-share-cpt.svg`), 'utf8'));
    assert.equal(texts(svg, 'title')[0], `${concept}: value-weighted share by head, cpt`);
    assert.deepEqual(texts(svg, 'rect title'), expected);
    const attention = parseSvg(await readFile(path.join(report, 'svg', `${slug(concept)}-share-cpt.svg`), 'utf8'));
    assert.notDeepEqual(texts(attention, 'rect title'), expected);
  });

  it('says in one line why a run has no value lens, and draws no value pages', async () => {
    const copy = path.join(await temporaryFolder(), 'results');
    await cp(results, copy, { recursive: true });
    const file = path.join(copy, 'summary.json');
    const json = await readJson<Summary>(file);
    const attentionOnly = (list: ScopeResult[]): ScopeResult[] => list.filter((r) => (r.lens ?? 'attention') === 'attention');
    const why = "o_proj is MatMulNBits 4-bit blocks; W_O not read per head";
    await writeFile(file, JSON.stringify({ ...json, options: { ...json.options, valueWeighted: why }, overall: attentionOnly(json.overall), concepts: json.concepts.map((c) => ({ ...c, results: attentionOnly(c.results) })) }));
    const out = path.join(await temporaryFolder(), 'report');
    await writeReport(copy, { out });
    const line = `Lens: attention (α). The value-weighted (‖α·v W_O‖) lens was not measured: ${why}.`;
    for (const page of ['index.html', `${slug(summary.concepts[0]!.id)}.html`]) assert.equal((await htmlOf(path.join(out, page))).querySelector('p.lens-choice')?.textContent, line, page);
    assert.ok(!(await listFiles(out)).some((f) => f.startsWith('value/')));
  });
});
