import type { Command } from 'commander';
import path from 'node:path';
import { calibratePair, type CalibrateSummary } from '../../lib/commands/calibrate.js';
import { formatBytes } from '../../lib/commands/inspect.js';
import { badInput } from '../../lib/errors.js';
import { runOptionsOf, type NamedModel } from '../../lib/options/run-options.js';
import { optionValues, withAnalysisOptions, type OptionValues } from '../analysis.js';
import { collectModel, optionOf, type CliContext } from '../context.js';

type CalibrateFlags = OptionValues & { model: NamedModel[]; concepts?: string; out: string; copies: number; force?: boolean };

function calibrationLines(summary: CalibrateSummary): string {
  const lines = [`${summary.pair}: concepts beating chance, the pair against ${summary.copies} concept-agnostic copies of its first model`];
  for (const v of summary.verdicts) {
    lines.push(`  ${v.family.padEnd(28)} ${v.conceptsBeatingChance}/${v.concepts} concepts beat chance; copies ${v.nullCounts.join(', ')}; empirical p ${v.empiricalP.toPrecision(2)}`);
    lines.push(`  ${''.padEnd(28)} mean effect of the concepts ${v.meanEffect.toFixed(3)}; copies ${v.nullMeanEffects.map((e) => e.toFixed(3)).join(', ')}; empirical p ${v.meanEffectP.toPrecision(2)}`);
  }
  const perCopy = summary.cost.copySeconds.reduce((a, b) => a + b, 0) / Math.max(1, summary.cost.copySeconds.length);
  lines.push(`cost: the pair ${summary.cost.pairSeconds.toFixed(0)} s, each copy ${perCopy.toFixed(0)} s and ${formatBytes(summary.cost.copyBytes)} on disk (one at a time); wrote ${path.join(summary.out, 'calibration.json')}`);
  return `${lines.join('\n')}\n`;
}

/** `legal-attn calibrate`: a pair's findings beside those of concept-agnostic noisy copies of its first model. */
export function registerCalibrate(program: Command, context: CliContext): void {
  withAnalysisOptions(
    program
      .command('calibrate')
      .description("how often this pair's findings arise when nothing concept-specific changed: compares B against A, then K copies of A with noise on every weight matrix as large as that tensor's change from A to B, through the same pipeline, and sets the pair's count of concepts beating chance beside the copies'")
      .requiredOption('-m, --model <name=dir>', 'the pair, before then after (--model base=DIR --model cpt=DIR)', collectModel)
      .option('-c, --concepts <path>', 'a concept YAML file or a folder of them (required unless the config file names one)')
      .requiredOption('-o, --out <dir>', 'output folder, replaced whole: OUT/pair (the real comparison), OUT/nulls/copy-K, OUT/calibration.json')
      .addOption(optionOf('copies'))
      .option('--force', 'replace an --out folder that holds files legal-attn did not write')
      .addOption(optionOf('threads'))
      .addOption(optionOf('device', { default: 'cpu' }))
      .addOption(optionOf('representations', { negate: true, help: 'attention only' }))
      .addOption(optionOf('knockout'))
      .addOption(optionOf('knockoutLayers'))
      .addOption(optionOf('knockoutControls')),
  ).action(async (options: CalibrateFlags) => {
    if (!options.concepts) throw badInput('calibrate needs --concepts PATH (or concepts: in the config file).');
    const concepts = options.concepts;
    const models = context.resolveModels(options.model);
    if (models.length !== 2) throw badInput(`calibrate takes one pair: --model A=DIR --model B=DIR (given ${models.length}).`);
    const summary = await context.withProgress((bar) =>
      calibratePair({
        models: [models[0]!, models[1]!],
        concepts,
        out: options.out,
        copies: options.copies,
        force: Boolean(options.force),
        ...runOptionsOf(optionValues(options)),
        ...context.cacheOption(),
        onProgress: bar.stage,
      }),
    );
    context.emit(summary, calibrationLines(summary));
  });
}
