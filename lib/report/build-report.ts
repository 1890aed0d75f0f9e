import path from 'node:path';
import { writeFileWhole, writeFolderWhole } from '../io/atomic.js';
import { readResults } from '../results/summary-file.js';
import { ReportBuilder, type ReportOptions, type ReportSummary } from './report-builder.js';

export type { ReportOptions, ReportSummary } from './report-builder.js';
import { conceptPage } from './concept-page.js';
import { indexPage } from './index-page.js';
import { lensFolder, valueLensMissing } from './lens.js';
import type { Page } from './report-builder.js';

/** Every page of one lens, its files under the lens's folder. */
async function lensPages(report: ReportBuilder): Promise<Page[]> {
  const pages = [indexPage(report)];
  for (const concept of report.results.summary.concepts) pages.push(await conceptPage(report, concept));
  const folder = lensFolder(report.variant.lens);
  return pages.map((p) => ({ file: `${folder}${p.file}`, html: p.html, svgs: p.svgs.map((s) => ({ file: `${folder}${s.file}`, svg: s.svg })) }));
}

/**
 * `report`: the HTML report of a compare results folder, one folder that opens from
 * disk: index.html (models, definitions, a sortable table of concepts, the overall
 * views, then the representation measures) and a page per concept with every view,
 * its representation change and knockout last; each SVG inline and beside it. The
 * attention lens is drawn at the top; where the run measured the value-weighted lens,
 * the same pages through it are drawn under value/, each page linking to its twin.
 */
export async function writeReport(resultsDir: string, options: ReportOptions = {}): Promise<ReportSummary> {
  const results = await readResults(resultsDir);
  const report = new ReportBuilder(results, options);
  const pages = await lensPages(report);
  if (valueLensMissing(report) === undefined) pages.push(...(await lensPages(new ReportBuilder(results, options, 'value'))));
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
