import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { JSDOM } from 'jsdom';
import { writeReport } from '../../lib/report/build-report.js';
import { slug } from '../../lib/report/html.js';
import type { KnockoutChangeSummary, KnockoutSummary, Summary } from '../../lib/results/summary-file.js';
import { compareCheckpoints } from '../../lib/commands/compare.js';
import { modelDir, probeConcepts, temporaryFolder } from '../helpers.js';

const MODELS = ['base', 'cpt'] as const;

const readJson = async <T>(file: string): Promise<T> => JSON.parse(await readFile(file, 'utf8')) as T;
const htmlOf = async (file: string): Promise<Document> => new JSDOM(await readFile(file, 'utf8')).window.document;
const cellTexts = (row: Element | null): string[] => Array.from(row?.querySelectorAll('td') ?? [], (td) => td.textContent ?? '');
const headings = (doc: Document): string[] => Array.from(doc.querySelectorAll('h2'), (h) => h.textContent ?? '');
/** The text of the knockout tables (the definitions quote summary.json's, which say where a value is NaN). */
const tablesText = (doc: Document): string => Array.from(doc.querySelectorAll('table.knockout-values, table.knockout-counts, table.knockout-overall'), (t) => t.textContent ?? '').join(' ');
const setName = (set: KnockoutSummary['layerSets'][number]): string => (set === 'all' ? 'every layer' : `layer ${set}`);

/** A cell as the report should write it: the number to four digits, or "untested" and why, never NaN. */
const shown = (v: number | null | undefined): string => (v === null || v === undefined ? 'untested' : v.toPrecision(4));

/** A model's or pair's row of one layer set, from summary.json's numbers. */
function expectedValues(c: KnockoutChangeSummary, k: number, alpha: number): Array<string | RegExp> {
  const p = c.pValue?.[k];
  return [c.model, setName(['all', 1][k] as 'all' | 1), shown(c.concept[k]), shown(c.control[k]), shown(c.effect?.[k]), p === null || p === undefined ? 'untested' : `${p.toPrecision(2)}${p < alpha ? ' *' : ''}`];
}

/** A copy of a results folder whose summary.json's knockout section is replaced. */
async function withKnockout(results: string, section: unknown): Promise<string> {
  const copy = path.join(await temporaryFolder(), 'results');
  await cp(results, copy, { recursive: true });
  const summary = await readJson<Record<string, unknown>>(path.join(copy, 'summary.json'));
  await writeFile(path.join(copy, 'summary.json'), JSON.stringify({ ...summary, knockout: section }));
  return copy;
}

describe('the report shows the knockout measures', function () {
  this.timeout(600_000);
  let results = '';
  let report = '';
  let summary: Summary;
  let section: KnockoutSummary;

  before(async () => {
    // the reference probes: four concepts of one short text each keep the knockout passes cheap
    const concepts = await probeConcepts(path.join(await temporaryFolder(), 'concepts'));
    results = path.join(await temporaryFolder(), 'results');
    await compareCheckpoints({ models: MODELS.map((name) => ({ name, dir: modelDir(name) })), concepts, out: results, representations: false, knockout: true, knockoutLayers: [1] });
    summary = await readJson<Summary>(path.join(results, 'summary.json'));
    assert.ok(summary.knockout && !('skipped' in summary.knockout), 'compare measured the knockout');
    section = summary.knockout;
    assert.deepEqual(section.layerSets, ['all', 1]);
    report = path.join(await temporaryFolder(), 'report');
    await writeReport(results, { out: report });
  });

  it("gives each concept page a Knockout section: per model and pair, measure and layer set, the concept, its controls, the effect and p of summary.json", async () => {
    const { alpha } = summary.options;
    let cells = 0;
    for (const concept of summary.concepts) {
      const doc = await htmlOf(path.join(report, `${slug(concept.id)}.html`));
      assert.equal(headings(doc).at(-1), 'Knockout', concept.id);
      for (const measure of ['loglik', 'state'] as const) {
        for (const model of ['base', 'cpt', 'cpt:base']) {
          const change = section.changes.find((c) => c.scope === concept.id && c.model === model && c.measure === measure)!;
          section.layerSets.forEach((set, k) => {
            const row = doc.querySelector(`table.knockout-values[data-measure="${measure}"] tr[data-model="${model}"][data-layer="${set}"]`);
            const texts = cellTexts(row);
            const expected = expectedValues(change, k, alpha);
            // an untested cell says why
            texts.forEach((text, i) => (expected[i] === 'untested' ? assert.match(text, /^untested \(.+\)$/, `${concept.id} ${measure} ${model} ${set}`) : assert.equal(text, expected[i], `${concept.id} ${measure} ${model} ${set} column ${i}`)));
            assert.equal(row?.querySelector('td.concept')?.getAttribute('data-value'), change.concept[k] === null ? '' : String(change.concept[k]));
            cells += 1;
          });
          const count = cellTexts(doc.querySelector(`table.knockout-counts[data-measure="${measure}"] tr[data-model="${model}"]`));
          if (change.layersBeatingChance === undefined || change.layersBeatingChance === null) assert.deepEqual(count, [model, `untested (${change.untested})`]);
          else assert.equal(count[2], `${change.layersBeatingChance} of 2${(change.countPValue ?? 1) < alpha ? ' *' : ''}`, `${concept.id} ${measure} ${model}`);
        }
      }
      assert.ok(!tablesText(doc).includes('NaN'), concept.id);
    }
    assert.equal(cells, summary.concepts.length * 2 * 3 * 2);
    // the knockout moves the text after every probe in every model: the values are numbers, not all untested
    assert.ok(section.changes.filter((c) => c.scope !== '*' && c.model === 'base').every((c) => c.concept.every((v) => v !== null && v !== 0)));
    assert.ok(section.changes.some((c) => c.scope !== '*' && c.pValue !== undefined), 'some concept was tested against chance');
  });

  it('gives the index, last, the overall count per model, pair and measure against chance, the run\'s negative-control rate and the definitions', async () => {
    const doc = await htmlOf(path.join(report, 'index.html'));
    assert.equal(headings(doc).at(-1), 'Knockout');
    const { alpha } = summary.options;
    for (const measure of ['loglik', 'state'] as const) {
      for (const model of ['base', 'cpt', 'cpt:base']) {
        const row = cellTexts(doc.querySelector(`table.knockout-overall tr[data-model="${model}"][data-measure="${measure}"]`));
        const overall = section.changes.find((c) => c.scope === '*' && c.model === model && c.measure === measure)!.overall;
        const own = section.negativeControls.filter((n) => n.model === model && n.measure === measure && n.sequences >= 2);
        const words = own.reduce((n, r) => n + r.words, 0);
        const controls = words > 0 ? `${((100 * own.reduce((n, r) => n + r.countBelowAlpha * r.words, 0)) / words).toFixed(1)} % of ${words}` : 'untested (no negative-control word recurs in two or more sequences, as a concept does)';
        const counted = overall ? [`${overall.conceptsBeatingChance} of ${overall.concepts}${overall.pValue < alpha ? ' *' : ''}`, overall.expectedByChance.toFixed(1), overall.pValue.toPrecision(2)] : ['untested (no concept could be tested)'];
        assert.deepEqual(row, [model, measure, ...counted, controls], `${model} ${measure}`);
      }
    }
    assert.deepEqual(Array.from(doc.querySelectorAll('dl.knockout-definitions dd'), (d) => d.textContent), Object.values(section.definitions));
    assert.ok(tablesText(doc).length > 0 && !tablesText(doc).includes('NaN'));
  });

  it("writes a value that could not be taken, and a concept that could not be tested, as untested with the reason, and counts the negative controls of units of two or more sequences", async () => {
    const concept = summary.concepts[0]!.id;
    const edited = {
      ...section,
      changes: section.changes.map((c) => (c.scope === concept && c.model === 'cpt:base' && c.measure === 'loglik' ? { scope: c.scope, model: c.model, measure: c.measure, concept: [c.concept[0], null], control: [null, c.control[1]], untested: 'fewer than 20 negative-control words occur in 2 to 4 sequences of legal wording' } : c)),
      // the probes' texts are one sequence each; as a run of two-sequence concepts writes them
      negativeControls: section.negativeControls.map((n, k) => ({ ...n, sequences: 2, countBelowAlpha: k % 2 })),
    };
    const out = path.join(await temporaryFolder(), 'report');
    await writeReport(await withKnockout(results, edited), { out });
    const page = await htmlOf(path.join(out, `${slug(concept)}.html`));
    const change = section.changes.find((c) => c.scope === concept && c.model === 'cpt:base' && c.measure === 'loglik')!;
    const why = 'untested (fewer than 20 negative-control words occur in 2 to 4 sequences of legal wording)';
    assert.deepEqual(cellTexts(page.querySelector('table.knockout-values[data-measure="loglik"] tr[data-model="cpt:base"][data-layer="all"]')), ['cpt:base', 'every layer', change.concept[0]!.toPrecision(4), 'untested (none of its matched control runs has a token after it)', why, why]);
    assert.deepEqual(cellTexts(page.querySelector('table.knockout-values[data-measure="loglik"] tr[data-model="cpt:base"][data-layer="1"]')), ['cpt:base', 'layer 1', 'untested (no token follows the concept in any of its sequences)', change.control[1]!.toPrecision(4), why, why]);
    assert.deepEqual(cellTexts(page.querySelector('table.knockout-counts[data-measure="loglik"] tr[data-model="cpt:base"]')), ['cpt:base', why]);
    const index = await htmlOf(path.join(out, 'index.html'));
    for (const measure of ['loglik', 'state'] as const) {
      for (const model of ['base', 'cpt', 'cpt:base']) {
        const own = edited.negativeControls.filter((n) => n.model === model && n.measure === measure);
        const words = own.reduce((n, r) => n + r.words, 0);
        const rate = own.reduce((n, r) => n + r.countBelowAlpha * r.words, 0) / words;
        assert.equal(cellTexts(index.querySelector(`table.knockout-overall tr[data-model="${model}"][data-measure="${measure}"]`)).at(-1), `${(100 * rate).toFixed(1)} % of ${words}`);
      }
    }
  });

  it('says why the knockout was not measured, on every page', async () => {
    const out = path.join(await temporaryFolder(), 'report');
    await writeReport(await withKnockout(results, { skipped: 'the attention of layer 0 is fused into MatMulNBits' }), { out });
    for (const page of ['index.html', `${slug(summary.concepts[0]!.id)}.html`]) {
      const doc = await htmlOf(path.join(out, page));
      assert.equal(doc.querySelector('p.knockout-skipped')?.textContent, 'Knockout was not measured: the attention of layer 0 is fused into MatMulNBits', page);
      assert.equal(doc.querySelector('table.knockout-values'), null);
    }
  });

  it('has no Knockout section where the run had no knockout (null), nor for folders written before it', async () => {
    for (const value of [null, undefined]) {
      const out = path.join(await temporaryFolder(), 'report');
      await writeReport(await withKnockout(results, value), { out });
      for (const page of ['index.html', `${slug(summary.concepts[0]!.id)}.html`]) {
        const doc = await htmlOf(path.join(out, page));
        assert.ok(!headings(doc).includes('Knockout'), `${page}, ${String(value)}`);
        assert.equal(doc.querySelector('p.knockout-skipped'), null);
      }
    }
  });

  it('refuses a knockout section of another form, naming the field', async () => {
    const copy = await withKnockout(results, { ...section, rowsPerSequence: 'many' });
    await assert.rejects(writeReport(copy, { out: path.join(await temporaryFolder(), 'report') }), /summary\.json: field knockout\.rowsPerSequence .*expected number.*; run legal-attn compare again/);
  });
});
