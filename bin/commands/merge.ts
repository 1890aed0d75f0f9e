import type { Command } from 'commander';
import { mergeBatches } from '../../lib/commands/batch.js';
import type { CliContext } from '../context.js';
import { batchLines } from '../output.js';

/** `legal-attn merge`: the results of batch slices as one folder. */
export function registerMerge(program: Command, context: CliContext): void {
  program
    .command('merge')
    .description('join the results of batch slices (--shard K/N, each with its own --out-root) into one folder, as one machine would have written it')
    .argument('<dirs...>', "the slices' --out-root folders")
    .requiredOption('-o, --out <dir>', 'the merged folder')
    .action(async (dirs: string[], options: { out: string }) => {
      const summary = await mergeBatches(dirs, options.out);
      context.emit(summary, batchLines(summary));
    });
}
