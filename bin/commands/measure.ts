import type { Command } from 'commander';
import { measureResults } from '../../lib/commands/measure.js';
import { analysisOptionsOf, withAnalysisOptions, type OptionValues } from '../analysis.js';
import type { CliContext } from '../context.js';
import { compareResult, overallLines } from '../output.js';

/** `legal-attn measure`: every measure again from the per-head maps a compare saved. */
export function registerMeasure(program: Command, context: CliContext): void {
  withAnalysisOptions(
    program
      .command('measure')
      .description('recompute every measure from the per-head maps a compare --maps full run saved (RESULTS/traces), without running a model')
      .argument('<results>', 'a folder written by legal-attn compare')
      .option('-o, --out <dir>', 'where to write the results (default: the results folder)'),
  ).action(async (results: string, options: OptionValues & { out?: string }) => {
    const summary = await context.withProgress((bar) => measureResults(results, { ...analysisOptionsOf(options), ...(options.out ? { out: options.out } : {}), onProgress: bar.stage }));
    context.emit(compareResult(summary), `${overallLines(summary)}\nwrote ${summary.files.join(', ')} to ${summary.out}\n`);
  });
}
