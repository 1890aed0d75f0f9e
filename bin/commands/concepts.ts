import type { Command } from 'commander';
import { checkConcepts, formatCheckedConcepts } from '../../lib/commands/concepts.js';
import { optionOf, type CliContext } from '../context.js';

/** `legal-attn concepts check`: concept files validated, and their spans' tokens under a model. */
export function registerConcepts(program: Command, context: CliContext): void {
  const concepts = program.command('concepts').description('concept files');
  concepts
    .command('check')
    .description("validate concept files and, with --model, show the tokens each span covers under that model's tokenizer")
    .argument('<path>', 'a concept YAML file or a folder of them')
    .option('-m, --model <dir>', 'a checkpoint whose tokenizer to use')
    .addOption(optionOf('chatTemplate', { help: "wrap each sequence in the checkpoint's chat template" }))
    .action(async (target: string, options: { model?: string; chatTemplate?: boolean }) => {
      const model = options.model ? context.modelDir(options.model) : undefined;
      const checked = await checkConcepts(target, { ...(model ? { model } : {}), chatTemplate: Boolean(options.chatTemplate) });
      context.emit(checked, formatCheckedConcepts(checked));
    });
}
