import type { Command } from 'commander';
import { formatInspectReport, inspectCheckpoint } from '../../lib/commands/inspect.js';
import { positiveInteger, type CliContext } from '../context.js';

/** `legal-attn inspect`: what legal-attn finds in a checkpoint. */
export function registerInspect(program: Command, context: CliContext): void {
  program
    .command('inspect')
    .description("show what legal-attn finds in a checkpoint: layers, heads, the node of each layer's attention, inputs and outputs, and the memory of a full attention map")
    .requiredOption('-m, --model <dir>', 'checkpoint folder (model.onnx, its external data, tokenizer.json, config.json)')
    .option('--length <tokens>', "sequence length for the memory estimate (default: the model's maximum, at most 4096)", positiveInteger('--length'))
    .action(async (options: { model: string; length?: number }) => {
      const report = await inspectCheckpoint(context.modelDir(options.model), { ...context.cacheOption(), ...(options.length ? { length: options.length } : {}) });
      context.emit(report, formatInspectReport(report));
    });
}
