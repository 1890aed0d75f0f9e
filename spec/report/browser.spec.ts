import assert from 'node:assert/strict';
import { access, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { runCli } from '../../bin/cli.js';
import { ROOT, captureIo, listFiles, temporaryFolder } from '../helpers.js';
import { loadConcepts } from '../../lib/concepts/load-concepts.js';
import { negativeControlShare } from '../../lib/compare/negative-controls.js';
import type { Summary } from '../../lib/results/summary-file.js';

const CHROMIUM = process.env.LEGAL_ATTN_CHROMIUM ?? '/usr/bin/chromium';

/** Opens a report page from disk and records what went wrong while it loaded. */
async function open(browser: Browser, file: string): Promise<{ page: Page; errors: string[]; failed: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
  const errors: string[] = [];
  const failed: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('requestfailed', (request) => failed.push(request.url()));
  page.on('request', (request) => {
    if (!request.url().startsWith('file://')) failed.push(`outside the folder: ${request.url()}`);
  });
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  return { page, errors, failed };
}

/** A screenshot is blank when it has hardly any colours. */
function distinctColours(png: Buffer): number {
  const image = PNG.sync.read(png);
  const colours = new Set<number>();
  for (let k = 0; k < image.data.length; k += 4 * 7) colours.add(image.data.readUInt32BE(k));
  return colours.size;
}

describe('the demo report in a real browser (headless Chromium)', function () {
  // the demo: compare of three models on every shipped concept, then both lenses of the report
  this.timeout(600_000);
  let browser: Browser;
  let report = '';
  let concepts = 0;

  before(async () => {
    await access(CHROMIUM).catch(() => {
      throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install chromium), as .ci/run does, or set LEGAL_ATTN_CHROMIUM`);
    });
    const out = path.join(await temporaryFolder(), 'demo');
    const io = captureIo();
    assert.equal(await runCli(['--quiet', 'demo', '--out', out], io), 0, io.err);
    report = path.join(out, 'report');
    concepts = (await loadConcepts(path.join(ROOT, 'concepts'))).length;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    await browser?.close();
  });

  it('is one folder of pages and SVG files, relative links only', async () => {
    const files = await listFiles(report);
    assert.ok(files.includes('index.html'));
    // each page, and its twin through the value-weighted lens under value/
    assert.equal(files.filter((f) => f.endsWith('.html')).length, 2 * (concepts + 1));
    assert.equal(files.filter((f) => f.startsWith('value/') && f.endsWith('.html')).length, concepts + 1);
    assert.ok(files.filter((f) => f.endsWith('.svg')).length > 50);
    assert.ok(files.every((f) => !f.includes('..')));
  });

  it('opens index.html from disk with no console error, no failed request, every view drawn, and a sortable table', async () => {
    const { page, errors, failed } = await open(browser, path.join(report, 'index.html'));
    assert.deepEqual(errors, []);
    assert.deepEqual(failed, []);
    const views = await page.locator('figure.view object').count();
    const attention = 3 + 3 + 1 + 1;
    const representations = 3 + 6 + 2 + 1 + 1;
    assert.equal(views, attention + representations, 'attention: three head grids, three change grids, distribution, layer curves; representations: three change curves, six CKA maps, two probes, paraphrase distance, structure gap');
    for (const frame of page.frames().slice(1)) assert.ok((await frame.locator('svg rect, svg path').count()) > 0, frame.url());
    assert.equal(page.frames().length - 1, views);
    const rows = page.locator('#concepts tbody tr');
    assert.equal(await rows.count(), concepts);
    assert.ok((await page.locator('table.structure tbody tr').count()) >= 10, 'structure alignment of each concept with components');
    assert.ok((await page.locator('table.wording tbody tr').count()) >= concepts, 'legal vs plain contrast of each concept');
    await page.locator('#concepts th', { hasText: 'share base' }).click();
    const sorted = await page.locator('#concepts tbody tr td:nth-child(4)').allTextContents();
    assert.deepEqual(sorted, [...sorted].sort((a, b) => Number(a) - Number(b)));
    const shot = await page.screenshot({ fullPage: false });
    assert.ok(distinctColours(shot) > 100, 'the screenshot is not blank');
    // At 1,280 px every table fits: nothing cut off on the right, no scrolling inside a table.
    const overflowing = await page.locator('table').evaluateAll((tables) =>
      tables.filter((t) => t.scrollWidth > t.clientWidth + 1 || t.getBoundingClientRect().right > window.innerWidth).map((t) => `${t.id || t.className}: ${t.scrollWidth} px`),
    );
    assert.deepEqual(overflowing, []);
    await page.close();
  });

  it('opens a concept page with every view: grids, distribution, layer curves, attention and difference maps', async () => {
    const { page, errors, failed } = await open(browser, path.join(report, 'hearsay.html'));
    assert.deepEqual(errors, []);
    assert.deepEqual(failed, []);
    const kinds = await page.locator('figure.view').evaluateAll((figures) => figures.map((f) => f.getAttribute('data-view') ?? ''));
    for (const kind of ['share-base', 'change-cpt-base', 'distribution', 'layers', 'map-base', 'diff-ift-cpt', 'diff-ift-base', 'components-base', 'components-ift-base']) {
      assert.ok(kinds.some((k) => k.includes(kind)), kind);
    }
    const mapFrame = page.frames().find((f) => f.url().endsWith('hearsay-map-base.svg'))!;
    assert.ok((await mapFrame.locator('g.cells rect title').count()) > 100);
    // the difference maps of every pair on one colour scale
    const legends = await Promise.all(page.frames().filter((f) => /hearsay-diff-/.test(f.url())).map((f) => f.locator('g.legend text').allTextContents()));
    assert.equal(legends.length, 3);
    assert.deepEqual(new Set(legends.map((l) => l.slice(0, 3).join(' '))).size, 1);
    const shot = await page.screenshot({ fullPage: true });
    assert.ok(distinctColours(shot) > 100);
    await page.close();
  });

  it('opens the value-weighted twin of a page from its lens line, every view drawn, and returns', async () => {
    const { page, errors, failed } = await open(browser, path.join(report, 'hearsay.html'));
    await page.locator('p.lens-choice a[data-lens="value"]').click();
    await page.waitForURL(/\/value\/hearsay\.html$/);
    await page.waitForLoadState('load');
    assert.deepEqual(errors, []);
    assert.deepEqual(failed, []);
    const kinds = await page.locator('figure.view').evaluateAll((figures) => figures.map((f) => f.getAttribute('data-view') ?? ''));
    assert.deepEqual(kinds, ['svg/hearsay-share-base.svg', 'svg/hearsay-share-cpt.svg', 'svg/hearsay-share-ift.svg', 'svg/hearsay-change-cpt-base.svg', 'svg/hearsay-change-ift-cpt.svg', 'svg/hearsay-change-ift-base.svg', 'svg/hearsay-distribution.svg', 'svg/hearsay-layers.svg']);
    for (const frame of page.frames().slice(1)) assert.ok((await frame.locator('svg rect, svg path').count()) > 0, frame.url());
    await page.locator('p.lens-choice a[data-lens="attention"]').click();
    await page.waitForURL((url) => url.pathname.endsWith('/report/hearsay.html'));
    await page.close();
  });

  it('keeps every file under 1 MB', async () => {
    const sizes = await Promise.all((await listFiles(report)).map(async (f) => ({ f, bytes: (await stat(path.join(report, f))).size })));
    assert.deepEqual(sizes.filter((s) => s.bytes >= 1_000_000), []);
  });

  it('draws every text of every view inside its SVG: no legend, label or note clipped', async () => {
    for (const file of ['index.html', 'hearsay.html', 'value/index.html', 'value/hearsay.html']) {
      const { page } = await open(browser, path.join(report, file));
      for (const frame of page.frames().slice(1)) {
        const outside = await frame.evaluate(() => {
          const box = document.querySelector('svg')!.getBoundingClientRect();
          return Array.from(document.querySelectorAll('text'))
            .filter((t) => t.textContent !== '')
            .map((t) => ({ text: t.textContent ?? '', b: t.getBoundingClientRect() }))
            .filter(({ b }) => b.left < box.left - 0.5 || b.right > box.right + 0.5 || b.top < box.top - 0.5 || b.bottom > box.bottom + 0.5)
            .map(({ text, b }) => `${text}: ${Math.round(b.left)}–${Math.round(b.right)} in ${Math.round(box.width)} px`);
        });
        assert.deepEqual(outside, [], frame.url());
      }
      await page.close();
    }
  });

  it('opens with the answer: per pair the mean change and its interval, concepts and heads beyond chance against chance, and the false-positive rate of the negative controls, before any other table', async () => {
    const { page } = await open(browser, path.join(report, 'index.html'));
    const summary = JSON.parse(await readFile(path.join(path.dirname(report), 'summary.json'), 'utf8')) as Summary;
    const first = page.locator('table').first();
    assert.equal(await first.getAttribute('class'), 'findings');
    assert.ok(await page.locator('ul.answer').evaluate((answer) => answer.getBoundingClientRect().top < document.querySelector('table')!.getBoundingClientRect().top));
    const overall = summary.overall.find((r) => r.target === 'concept' && r.querySet === 'all' && r.sink === 'include')!;
    for (const pair of summary.options.pairs) {
      const c = overall.changes[pair]!;
      const row = page.locator(`table.findings tr[data-pair="${pair}"]`);
      const mean = await row.locator('td.mean').textContent();
      assert.ok(mean?.includes(`${c.meanDelta! > 0 ? '+' : '−'}${Math.abs(c.meanDelta!).toExponential(2)}`), `${pair}: ${mean}`);
      assert.ok(mean?.includes(`${Math.abs(c.replication!.meanDelta.low!).toExponential(2)}`), `${pair}: ${mean}`);
      assert.match((await row.locator('td.concepts').textContent())!, new RegExp(`^${c.conceptsBeatingChance} of ${c.concepts}; chance alone gives ${c.conceptsExpectedByChance}`));
      const controls = negativeControlShare(summary.references!.negativeControls, pair, { querySet: 'all', sink: 'include' })!;
      assert.ok((await row.locator('td.controls').textContent())!.includes(`attention ${(100 * controls.rate).toFixed(1)} % of ${controls.words} words`));
      assert.match((await row.locator('td.heads').textContent())!, /^\d+ of \d+ \(\d+ concepts × heads\); chance alone gives [\d.]+$/);
      assert.ok((await page.locator(`ul.answer li[data-pair="${pair}"]`).textContent())!.includes(`skewed ${c.skewness!.toFixed(2)}`));
    }
    assert.ok(!(await page.locator('body').innerText()).includes('NaN'), 'no NaN shown');
    const headings = await page.locator('h2').allTextContents();
    assert.ok(headings.indexOf('Findings') < headings.indexOf('Models and run'));
    assert.ok(headings.indexOf('Concepts') < headings.indexOf('Models and run'));
    await page.close();
  });

  it('explores the maps of a concept: hover a token to follow its row and column, pick another model to see its values', async () => {
    const { page, errors } = await open(browser, path.join(report, 'hearsay.html'));
    const explorer = page.locator('#explorer');
    const cells = explorer.locator('.panel-after svg rect[data-r]');
    const size = await cells.count();
    assert.ok(size > 100);
    await explorer.locator('.token').nth(5).hover();
    assert.deepEqual(await explorer.locator('.token.hl-query').evaluateAll((s) => s.map((e) => e.getAttribute('data-t'))), ['5']);
    assert.equal(await explorer.locator('.panel-difference rect.hl-row').getAttribute('visibility'), 'visible');
    assert.match((await explorer.locator('.readout').textContent())!, /^query 5 .* → key 5 .*: cpt [\d.e-]+, base [\d.e-]+, Δ /);
    const before = await cells.evaluateAll((r) => r.map((e) => e.getAttribute('data-value')));
    await explorer.locator('select.pick-after').selectOption('ift');
    const after = await cells.evaluateAll((r) => r.map((e) => e.getAttribute('data-value')));
    assert.notDeepEqual(after, before);
    assert.match((await explorer.locator('.panel-after figcaption').textContent())!, /^ift: layer 5, mean over heads$/);
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('prints to PDF', async () => {
    const { page } = await open(browser, path.join(report, 'index.html'));
    const pdf = await page.pdf({ format: 'A4' });
    assert.ok(pdf.length > 10_000 && pdf.subarray(0, 5).toString() === '%PDF-');
    await page.close();
  });
});

