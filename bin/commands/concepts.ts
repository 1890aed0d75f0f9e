import type { Command } from 'commander';
import { checkConcepts, checkWarnings, formatCheckedConcepts } from '../../lib/commands/concepts.js';
import { optionOf, type CliContext } from '../context.js';

/** `legal-attn concepts check`: concept files validated, and their spans' tokens under a model. */
export function registerConcepts(program: Command, context: CliContext): void {
  const concepts = program.command('concepts').description('concept files');
  concepts
    .command('check')
    .description("validate concept files and, with --model, plan them as compare does (tokenizer, vocabulary and length checks) and show the tokens each span covers under that model's tokenizer; warnings on stderr")
    .argument('<path>', 'a concept YAML file or a folder of them')
    .option('-m, --model <dir>', 'a checkpoint folder, as compare takes it')
    .addOption(optionOf('chatTemplate', { help: "wrap each sequence in the checkpoint's chat template" }))
    .action(async (target: string, options: { model?: string; chatTemplate?: boolean }) => {
      const model = options.model ? context.modelDir(options.model) : undefined;
      const checked = await checkConcepts(target, { ...(model ? { model } : {}), chatTemplate: Boolean(options.chatTemplate), ...context.cacheOption() });
      // warnings before the result, so that --json keeps stdout one JSON document
      context.io.stderr(checkWarnings(checked));
      context.emit(checked, formatCheckedConcepts(checked));
    });
}
