import type { Command } from 'commander';
import path from 'node:path';
import { compareCheckpoints } from '../../lib/commands/compare.js';
import { writeReport } from '../../lib/report/build-report.js';
import { PACKAGE_ROOT } from '../../lib/version.js';
import type { CliContext } from '../context.js';
import { compareResult, overallLines, reportLine } from '../output.js';

/** `legal-attn demo`: the shipped tiny checkpoints compared on the shipped concepts, with the report. */
export function registerDemo(program: Command, context: CliContext): void {
  program
    .command('demo')
    .description('compare the shipped tiny base, cpt and ift checkpoints on the shipped concepts, write the HTML report and say where it is')
    .option('-o, --out <dir>', 'output folder', path.join(PACKAGE_ROOT, 'reports', 'demo'))
    .action(async (options: { out: string }) => {
      const summary = await context.withProgress((bar) =>
        compareCheckpoints({
          models: ['base', 'cpt', 'ift'].map((name) => ({ name, dir: path.join(PACKAGE_ROOT, 'models', `tiny-legal-${name}`) })),
          concepts: path.join(PACKAGE_ROOT, 'concepts'),
          out: options.out,
          ...context.cacheOption(),
          onProgress: bar.stage,
        }),
      );
      const report = await writeReport(summary.out);
      const sequences = new Set(summary.comparison.sequences.flatMap((s) => s.sequences)).size;
      context.emit(compareResult(summary, report), `compared tiny-legal base, cpt and ift on the shipped concepts (${sequences} sequences)\n${overallLines(summary)}\nresults: ${path.join(summary.out, 'summary.json')}\n${reportLine(report)}`);
    });
}
