import type { Command } from 'commander';
import { runBatch } from '../../lib/commands/batch.js';
import type { Device } from '../../lib/runtime/session.js';
import { optionOf, type CliContext } from '../context.js';
import { batchEventLine, batchLines } from '../output.js';

interface BatchFlags {
  shard?: string;
  outRoot?: string;
  failFast?: boolean;
  batchSize?: number;
  threads?: number;
  device?: Device;
}

/** `legal-attn batch`: every run of a manifest; a batch with failed runs exits 1 after its summary. */
export function registerBatch(program: Command, context: CliContext): void {
  program
    .command('batch')
    .description('run every study of a manifest (models, concept sets, options, output folders): the whole manifest is checked first, each model is loaded once, traces are cached so an interrupted batch resumes where it stopped')
    .argument('<manifest>', 'a batch manifest YAML file (see "Batch runs" in the README)')
    .option('--shard <k/n>', 'run only the K-th of N slices of the runs (for cluster array jobs); join the slices with legal-attn merge')
    .option('--out-root <dir>', "where the runs' out folders go (default: the manifest's folder)")
    .option('--fail-fast', 'stop at the first failing run')
    .addOption(optionOf('batchSize', { help: 'sequences per forward pass (default 1, so that a resumed batch gives the bytes of an uninterrupted one)' }))
    .addOption(optionOf('threads'))
    .addOption(optionOf('device', { help: 'execution provider of the runs that name none in the manifest (default: cpu)' }))
    .action(async (manifest: string, options: BatchFlags) => {
      // a line per run on stderr from the first second, between the progress bar's stages
      const quiet = Boolean(context.globals().quiet);
      const summary = await context.withProgress((bar) =>
        runBatch({
          manifest,
          ...(options.shard ? { shard: options.shard } : {}),
          ...(options.outRoot ? { outRoot: options.outRoot } : {}),
          failFast: Boolean(options.failFast),
          ...(options.batchSize ? { batchSize: options.batchSize } : {}),
          ...(options.threads ? { threads: options.threads } : {}),
          ...(options.device ? { device: options.device } : {}),
          ...context.cacheOption(),
          onProgress: bar.stage,
          onRun: (event) => {
            if (quiet) return;
            bar.stop();
            context.io.stderr(batchEventLine(event));
          },
        }),
      );
      context.emit(summary, batchLines(summary));
      if (summary.failed > 0) context.state.exitCode = 1;
    });
}
