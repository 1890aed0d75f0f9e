import path from 'node:path';
import { writeFileWhole, writeFolderWhole } from '../io/atomic.js';
import { readResults } from '../results/summary-file.js';
import { ReportBuilder, type ReportOptions, type ReportSummary } from './report-builder.js';

export type { ReportOptions, ReportSummary } from './report-builder.js';
import { conceptPage } from './concept-page.js';
import { indexPage } from './index-page.js';

/**
 * `report`: the HTML report of a compare results folder, one folder that opens from
 * disk: index.html (models, definitions, a sortable table of concepts, the overall
 * views, then the representation measures) and a page per concept with every view,
 * its representation change last; each SVG inline and beside it.
 */
export async function writeReport(resultsDir: string, options: ReportOptions = {}): Promise<ReportSummary> {
  const results = await readResults(resultsDir);
  const report = new ReportBuilder(results, options);
  const pages = [indexPage(report)];
  for (const concept of results.summary.concepts) pages.push(await conceptPage(report, concept));
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
