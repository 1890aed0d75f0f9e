import type { Command } from 'commander';
import { compareCheckpoints } from '../../lib/commands/compare.js';
import { badInput } from '../../lib/errors.js';
import { runOptionsOf, type NamedModel } from '../../lib/options/run-options.js';
import { writeReport } from '../../lib/report/build-report.js';
import { optionValues, withAnalysisOptions, type OptionValues } from '../analysis.js';
import { collectModel, optionOf, type CliContext } from '../context.js';
import { compareResult, overallLines, reportLine } from '../output.js';

type CompareFlags = OptionValues & { model: NamedModel[]; concepts?: string; out: string; force?: boolean; report: boolean };

/** `legal-attn compare`: several checkpoints of one lineage on the concepts, pair by pair. */
export function registerCompare(program: Command, context: CliContext): void {
  withAnalysisOptions(
    program
      .command('compare')
      .description('run several checkpoints of one lineage on the concepts, one at a time, measuring attention shares inside each graph, and compare them pair by pair; writes summary.json, shares.csv, changes.csv, stats.csv, layers.csv and the HTML report')
      .requiredOption('-m, --model <name=dir>', 'a named checkpoint, repeated in lineage order (base, then cpt, then ift)', collectModel)
      .option('-c, --concepts <path>', 'a concept YAML file or a folder of them (required unless the config file names one)')
      .requiredOption('-o, --out <dir>', 'output folder, replaced whole by this run (tokens and kept maps in OUT/traces; passes come from the trace cache when identical)')
      .option('--force', 'replace an --out folder that holds files legal-attn did not write')
      .addOption(optionOf('chatTemplate'))
      .addOption(optionOf('batchSize', { help: 'sequences per forward pass (default: 8 for texts of up to 256 tokens measured in the graph, else 1)' }))
      .addOption(optionOf('threads'))
      .addOption(optionOf('device', { default: 'cpu' }))
      .addOption(optionOf('maps', { default: 'mean' }))
      .addOption(optionOf('mapLayers'))
      .addOption(optionOf('maxMapGb'))
      .addOption(optionOf('maxMemoryGb'))
      .addOption(optionOf('representations', { negate: true, help: 'do not capture the residual stream (representation change, CKA and probes in representations.csv); saves one forward pass per sequence and model' }))
      .addOption(optionOf('knockout'))
      .addOption(optionOf('knockoutLayers'))
      .addOption(optionOf('knockoutControls'))
      .addOption(optionOf('report', { negate: true, help: 'do not write the HTML report (OUT/report/index.html)' })),
  ).action(async (options: CompareFlags) => {
    if (!options.concepts) throw badInput('compare needs --concepts PATH (or concepts: in the config file).');
    const concepts = options.concepts;
    const summary = await context.withProgress((bar) =>
      compareCheckpoints({
        models: context.resolveModels(options.model),
        concepts,
        out: options.out,
        force: Boolean(options.force),
        ...runOptionsOf(optionValues(options)),
        ...context.cacheOption(),
        onProgress: bar.stage,
      }),
    );
    if (summary.representations && 'skipped' in summary.representations && !context.globals().quiet) context.io.stderr(`representations not measured: ${summary.representations.skipped}\n`);
    const report = options.report ? await writeReport(summary.out) : undefined;
    context.emit(compareResult(summary, report), `${overallLines(summary)}\nwrote ${summary.files.join(', ')} to ${summary.out}\n${report ? reportLine(report) : ''}`);
  });
}
