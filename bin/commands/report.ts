import { Option, type Command } from 'commander';
import { writeReport } from '../../lib/report/build-report.js';
import { wholeNumber, type CliContext } from '../context.js';
import { reportLine } from '../output.js';

/** `legal-attn report`: the HTML report of a compare results folder. */
export function registerReport(program: Command, context: CliContext): void {
  program
    .command('report')
    .description('write the HTML report of a compare results folder: index.html with the models, definitions and a sortable table of concepts, and a page per concept with SVG heatmaps of shares, changes, distributions, layer curves, attention and difference maps, then representations and knockout; the same pages through the value-weighted lens under value/')
    .argument('<results>', 'a folder written by legal-attn compare')
    .option('-o, --out <dir>', 'report folder (default RESULTS/report)')
    .option('--layer <n>', 'layer of the attention and difference maps (default: the last)', wholeNumber('--layer'))
    .option('--head <n>', 'one head for the maps (default: the mean over heads)', wholeNumber('--head'))
    .addOption(new Option('--map-models <which>', 'attention maps of the first model only (the difference maps show the others) or of every model').choices(['first', 'all']).default('first'))
    .action(async (results: string, options: { out?: string; layer?: number; head?: number; mapModels: 'first' | 'all' }) => {
      const report = await writeReport(results, {
        mapModels: options.mapModels,
        ...(options.out !== undefined ? { out: options.out } : {}),
        ...(options.layer !== undefined ? { layer: options.layer } : {}),
        ...(options.head !== undefined ? { head: options.head } : {}),
      });
      context.emit(report, reportLine(report));
    });
}
