import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import path from 'node:path';
import { exitCodeOf } from '../lib/errors.js';
import { formatInspectReport, inspectCheckpoint } from '../lib/inspect.js';
import { MAPS_MODES, traceToFolder, type MapsMode } from '../lib/run-trace.js';
import { PACKAGE_ROOT, TOOL_VERSION } from '../lib/version.js';

/** Where the CLI writes: injectable so tests drive it in-process. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Whether a progress bar may redraw stderr (a terminal). */
  interactive: boolean;
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  interactive: Boolean(process.stderr.isTTY),
};

const positiveInteger =
  (flag: string) =>
  (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} takes a whole number of at least 1.`);
    return n;
  };

const positiveNumber =
  (flag: string) =>
  (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${flag} takes a positive number.`);
    return n;
  };

interface GlobalOptions {
  debug?: boolean;
  quiet?: boolean;
  cache?: string;
}

function progressReporter(io: CliIo, quiet: boolean | undefined, label: string): { update: (done: number, total: number) => void; stop: () => void } {
  if (quiet || !io.interactive) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: `${label} [{bar}] {value}/{total} sequences | {duration_formatted}`, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total) {
      if (!started) bar.start(total, 0);
      started = true;
      bar.update(done);
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

const MAPS_HELP = 'attention maps to write per sequence: none (tokens only), mean (head-averaged, [layers, T, T]), full ([layers, heads, T, T])';

/** The legal-attn command line; `bin/legal-attn.ts` runs it on process.argv. */
export function buildProgram(io: CliIo = processIo): Command {
  const program = new Command('legal-attn')
    .description('Where a language model\'s attention goes on annotated legal concepts, and how continued pre-training and instruction tuning change it.')
    .version(TOOL_VERSION)
    .option('--cache <dir>', 'cache folder for patched graphs and hashes (default $LEGAL_ATTN_CACHE or ~/.cache/legal-attn)')
    .option('-q, --quiet', 'no progress or messages on stderr')
    .option('--debug', 'print stack traces of errors')
    .configureOutput({
      writeOut: io.stdout,
      writeErr: io.stderr,
      // One line, like every other error: "legal-attn: unknown option '--mapz' (Did you mean --maps?)".
      outputError: (text, write) => write(`legal-attn: ${text.replace(/^error: /, '').replace(/\s*\n\s*(?=\S)/g, ' ').trim()}\n`),
    })
    .exitOverride();

  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  const cacheOption = (): { cacheDir?: string } => {
    const cache = globals().cache;
    return cache ? { cacheDir: cache } : {};
  };

  program
    .command('inspect')
    .description('show what legal-attn finds in a checkpoint: layers, heads, the node of each layer\'s attention, inputs and outputs, and the memory of a full attention map')
    .requiredOption('-m, --model <dir>', 'checkpoint folder (model.onnx, its external data, tokenizer.json, config.json)')
    .option('--length <tokens>', 'sequence length for the memory estimate (default: the model\'s maximum, at most 4096)', positiveInteger('--length'))
    .option('--json', 'print the result as JSON on stdout')
    .action(async (options: { model: string; length?: number; json?: boolean }) => {
      const report = await inspectCheckpoint(options.model, { ...cacheOption(), ...(options.length ? { length: options.length } : {}) });
      io.stdout(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatInspectReport(report));
    });

  program
    .command('trace')
    .description('run one checkpoint over texts and write, per sequence, tokens.json (ids, tokens, character offsets, span tokens) and attention maps as NumPy .npy')
    .requiredOption('-m, --model <dir>', 'checkpoint folder (model.onnx, its external data, tokenizer.json, config.json)')
    .addOption(new Option('--text <string>', 'one text to trace; files go straight into --out').conflicts('concepts'))
    .addOption(new Option('--concepts <path>', 'a concept YAML file or a folder of them; one folder per concept and sequence under --out').conflicts('text'))
    .requiredOption('-o, --out <dir>', 'output folder')
    .addOption(new Option('--maps <kind>', MAPS_HELP).choices(MAPS_MODES as MapsMode[]).default('full'))
    .option('--batch-size <n>', 'sequences per forward pass, padded on the right', positiveInteger('--batch-size'), 1)
    .option('--threads <n>', 'CPU threads for onnxruntime (default: all cores)', positiveInteger('--threads'))
    .option('--max-map-gb <gb>', 'refuse --maps full above this many GiB per sequence', positiveNumber('--max-map-gb'), 4)
    .action(async (options: { model: string; text?: string; concepts?: string; out: string; maps: MapsMode; batchSize: number; threads?: number; maxMapGb: number }) => {
      const progress = progressReporter(io, globals().quiet, 'tracing');
      try {
        const summary = await traceToFolder({
          model: options.model,
          ...(options.text !== undefined ? { text: options.text } : {}),
          ...(options.concepts !== undefined ? { concepts: options.concepts } : {}),
          out: options.out,
          maps: options.maps,
          batchSize: options.batchSize,
          maxMapBytes: options.maxMapGb * 1024 ** 3,
          ...(options.threads ? { threads: options.threads } : {}),
          ...cacheOption(),
          onProgress: progress.update,
        });
        progress.stop();
        if (!globals().quiet) io.stderr(`traced ${summary.sequences.length} sequence(s) on ${summary.checkpoint.name}; wrote ${summary.out}\n`);
      } finally {
        progress.stop();
      }
    });

  program
    .command('demo')
    .description('trace the shipped concepts on the shipped tiny base checkpoint and say where the results are')
    .option('-o, --out <dir>', 'output folder', path.join(PACKAGE_ROOT, 'reports', 'demo'))
    .action(async (options: { out: string }) => {
      const progress = progressReporter(io, globals().quiet, 'demo');
      const out = path.join(options.out, 'trace-tiny-legal-base');
      try {
        const summary = await traceToFolder({
          model: path.join(PACKAGE_ROOT, 'models', 'tiny-legal-base'),
          concepts: path.join(PACKAGE_ROOT, 'concepts'),
          out,
          maps: 'full',
          ...cacheOption(),
          onProgress: progress.update,
        });
        progress.stop();
        io.stdout(`traced ${summary.sequences.length} sequences of the shipped concepts on tiny-legal-base\nresults: ${summary.out}\n`);
      } finally {
        progress.stop();
      }
    });

  return program;
}

/** Runs the CLI and returns the exit code: 0 ok, 1 runtime failure, 2 bad input. */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    // commander has printed its own message (usage errors, --help, --version)
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    const debug = argv.includes('--debug');
    const message = error instanceof Error ? error.message : String(error);
    io.stderr(`legal-attn: ${message}\n`);
    if (debug && error instanceof Error && error.stack) io.stderr(`${error.stack}\n`);
    return exitCodeOf(error);
  }
}
