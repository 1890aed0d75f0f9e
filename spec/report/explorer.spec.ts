import assert from 'node:assert/strict';
import { access, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { compareCheckpoints } from '../../lib/commands/compare.js';
import { readNpy } from '../../lib/io/npy.js';
import { attentionMapSvg } from '../../lib/render/attention-map.js';
import { writeReport } from '../../lib/report/build-report.js';
import { slug } from '../../lib/report/html.js';
import { readTokensFile } from '../../lib/results/tokens-file.js';
import { listFiles, modelDir, probeConcepts, temporaryFolder } from '../helpers.js';

const CHROMIUM = process.env.LEGAL_ATTN_CHROMIUM ?? '/usr/bin/chromium';

describe('the interactive maps and long texts in a real browser (headless Chromium)', function () {
  this.timeout(600_000);
  let browser: Browser;
  let results = '';
  let report = '';

  before(async () => {
    await access(CHROMIUM);
    results = path.join(await temporaryFolder(), 'results');
    const concepts = await probeConcepts(path.join(await temporaryFolder(), 'concepts'));
    await compareCheckpoints({ models: (['base', 'cpt'] as const).map((name) => ({ name, dir: modelDir(name) })), concepts, out: results, maps: 'full', representations: false });
    report = (await writeReport(results, { out: path.join(await temporaryFolder(), 'report') })).out;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
  });
  after(async () => {
    await browser?.close();
  });

  it("shows the picked layer and head: the map's cells take that head's values", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1200 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const file = (await listFiles(report)).find((f) => f.endsWith('.html') && f !== 'index.html')!;
    await page.goto(pathToFileURL(path.join(report, file)).href);
    const explorer = page.locator('#explorer');
    const data = JSON.parse((await explorer.locator('.explorer-data').textContent())!) as { heads: Record<string, string[]>; layers: number[]; block: number };
    assert.deepEqual(data.layers, [0, 1, 2, 3, 4, 5], 'every layer of a --maps full run');
    assert.deepEqual(data.heads['2'], ['mean', '0', '1', '2', '3', '4', '5', '6', '7']);
    await explorer.locator('select.pick-layer').selectOption('2');
    await explorer.locator('select.pick-head').selectOption('3');
    // The sequence shown, from the page's own heading, and cpt's per-head maps on disk.
    const sequence = /Explore the maps of “(.*)”/.exec((await page.locator('#explore').textContent())!)![1]!;
    const concept = file.replace(/\.html$/, '');
    const folder = path.join(results, 'traces', 'cpt', concept, sequence);
    const { dims, data: maps } = await readNpy(path.join(folder, (await readTokensFile(path.join(folder, 'tokens.json'))).attentions!.file));
    const [, heads = 0, T = 0] = dims;
    assert.equal(data.block, 1);
    const shown = await explorer.locator('.panel-after svg rect[data-r]').evaluateAll((rects) => rects.map((r) => [Number(r.getAttribute('data-r')), Number(r.getAttribute('data-c')), Number(r.getAttribute('data-value'))]));
    assert.equal(shown.length, (T * (T + 1)) / 2);
    for (const [r, c, v] of shown) assert.ok(Math.abs(v! - maps[((2 * heads + 3) * T + r!) * T + c!]!) < 1e-4, `cell ${r}, ${c}: ${v}`);
    assert.equal(await explorer.locator('.panel-after figcaption').textContent(), 'cpt: layer 2, head 3');
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('writes the same report twice, byte for byte', async () => {
    const again = (await writeReport(results, { out: path.join(await temporaryFolder(), 'report') })).out;
    const files = await listFiles(report);
    assert.deepEqual(await listFiles(again), files);
    for (const f of files) assert.ok((await readFile(path.join(report, f))).equals(await readFile(path.join(again, f))), f);
  });

  it('thins the labels of a long text to readable ones that do not overlap', async () => {
    // 4,534 tokens kept pooled into cells of 48: 95 × 95 cells.
    const T = 4534;
    const size = 95;
    const map = new Float32Array(size * size).map((_, k) => (k % size <= Math.floor(k / size) ? 1 / (1 + Math.floor(k / size)) : 0));
    const tokens = Array.from({ length: T }, (_, k) => `▁word${k}`);
    const file = path.join(await temporaryFolder(), `${slug('long map')}.svg`);
    await writeFile(file, attentionMapSvg({ map, tokens, concept: [2400, 2401], cellTokens: 48 }, 'a long text'));
    const page = await browser.newPage({ viewport: { width: 1600, height: 1600 } });
    await page.goto(pathToFileURL(file).href);
    const rows = await page.locator('g.row-labels text').evaluateAll((texts) => texts.map((t) => ({ size: parseFloat(getComputedStyle(t).fontSize), box: t.getBoundingClientRect().toJSON() as DOMRect })));
    assert.ok(rows.length >= 30 && rows.length < size, `${rows.length} row labels`);
    for (const r of rows) assert.ok(r.size >= 9, `font ${r.size} px`);
    for (let k = 1; k < rows.length; k++) assert.ok(rows[k]!.box.top >= rows[k - 1]!.box.bottom - 0.5, `row labels ${k - 1} and ${k} overlap`);
    // Rotated 60°: neighbours' baselines lie Δx · sin 60° apart, which must exceed a line's height.
    const cols = await page.locator('g.col-labels text').evaluateAll((texts) => texts.map((t) => ({ x: Number(/translate\(([\d.]+)/.exec(t.getAttribute('transform') ?? '')?.[1]), height: (t as SVGTextElement).getBBox().height, size: parseFloat(getComputedStyle(t).fontSize) })));
    for (const c of cols) assert.ok(c.size >= 9);
    for (let k = 1; k < cols.length; k++) assert.ok((cols[k]!.x - cols[k - 1]!.x) * Math.sin(Math.PI / 3) >= cols[k]!.height - 0.5, `column labels ${k - 1} and ${k} overlap`);
    assert.ok(cols.some((c, k) => k > 0 && c.x > 0), 'column labels drawn');
    await page.close();
  });
});
