import { Option, type Command } from 'commander';
import { traceToFolder } from '../../lib/commands/trace.js';
import type { Device } from '../../lib/runtime/session.js';
import { runOptionsOf } from '../../lib/options/run-options.js';
import { optionOf, type CliContext } from '../context.js';
import { type MapsMode } from '../../lib/measure/maps-mode.js';

interface TraceFlags {
  model: string;
  text?: string;
  concepts?: string;
  out: string;
  force?: boolean;
  maps: MapsMode;
  chatTemplate?: boolean;
  traceCache: boolean;
  batchSize: number;
  threads?: number;
  device: Device;
  maxMapGb: number;
}

/** `legal-attn trace`: one checkpoint over texts, tokens and attention maps per sequence. */
export function registerTrace(program: Command, context: CliContext): void {
  program
    .command('trace')
    .description('run one checkpoint over texts and write, per sequence, tokens.json (ids, tokens, character offsets, span tokens) and attention maps as NumPy .npy')
    .requiredOption('-m, --model <dir>', 'checkpoint folder (model.onnx, its external data, tokenizer.json, config.json)')
    .addOption(new Option('--text <string>', 'one text to trace; files go straight into --out').conflicts('concepts'))
    .addOption(new Option('--concepts <path>', 'a concept YAML file or a folder of them; one folder per concept and sequence under --out').conflicts('text'))
    .requiredOption('-o, --out <dir>', 'output folder, replaced whole by this run')
    .option('--force', 'replace an --out folder that holds files legal-attn did not write')
    .addOption(optionOf('maps', { help: 'attention maps per sequence: none (tokens only), mean (head-averaged, [layers, T, T]), full ([layers, heads, T, T])', default: 'full' }))
    .addOption(optionOf('chatTemplate'))
    .option('--no-trace-cache', 'neither read nor fill the trace cache')
    .addOption(optionOf('batchSize', { default: 1 }))
    .addOption(optionOf('threads'))
    .addOption(optionOf('device', { default: 'cpu' }))
    .addOption(optionOf('maxMapGb', { help: 'refuse --maps full above this many GiB per sequence' }))
    .action(async (options: TraceFlags) => {
      const summary = await context.withProgress((bar) =>
        traceToFolder({
          model: context.modelDir(options.model),
          ...(options.text !== undefined ? { text: options.text } : {}),
          ...(options.concepts !== undefined ? { concepts: options.concepts } : {}),
          out: options.out,
          force: Boolean(options.force),
          useCache: options.traceCache,
          ...runOptionsOf(options),
          ...context.cacheOption(),
          onProgress: (done, total) => bar.stage('tracing', done, total),
        }),
      );
      // on stdout like every command's result; nothing with --quiet
      const human = context.globals().quiet ? '' : `traced ${summary.sequences.length} sequence(s) on ${summary.checkpoint.name} (${summary.computed} run, ${summary.fromCache} from the trace cache); wrote ${summary.out}\n`;
      const result = { out: summary.out, model: summary.checkpoint.name, contentHash: summary.checkpoint.contentHash, sequences: summary.sequences, computed: summary.computed, fromCache: summary.fromCache };
      context.emit(result, human);
    });
}
