import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import path from 'node:path';
import { exitCodeOf } from '../lib/errors.js';
import { formatInspectReport, inspectCheckpoint } from '../lib/inspect.js';
import { MAPS_MODES, traceToFolder, type MapsMode } from '../lib/run-trace.js';
import { compareCheckpoints, measureResults, type CompareSummary, type NamedModel } from '../lib/run-compare.js';
import { SINK_MODES, type SinkMode } from '../lib/measure/attention-share.js';
import { DEFINITIONS } from '../lib/measure/definitions.js';
import { QUERY_SETS, type QuerySetKind } from '../lib/measure/query-set.js';
import { PACKAGE_ROOT, TOOL_VERSION } from '../lib/version.js';
import { writeReport, type ReportSummary } from '../lib/report/build-report.js';
import { formatBytes } from '../lib/inspect.js';

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

interface Progress {
  update: (done: number, total: number) => void;
  stage: (stage: string, done: number, total: number) => void;
  stop: () => void;
}

/** A progress bar on stderr for long work; silent with --quiet or when stderr is not a terminal. */
function progressReporter(io: CliIo, quiet: boolean | undefined, label: string): Progress {
  if (quiet || !io.interactive) return { update: () => undefined, stage: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: '{stage} [{bar}] {value}/{total} sequences | {duration_formatted}', hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let current: string | undefined;
  const stage = (name: string, done: number, total: number): void => {
    if (current !== name) {
      if (current !== undefined) bar.stop();
      bar.start(total, 0, { stage: name });
      current = name;
    }
    bar.update(done);
  };
  return {
    update: (done, total) => stage(label, done, total),
    stage,
    stop: () => {
      if (current !== undefined) bar.stop();
      current = undefined;
    },
  };
}

const collectModel = (value: string, previous: NamedModel[] = []): NamedModel[] => {
  const at = value.indexOf('=');
  const dir = at >= 0 ? value.slice(at + 1) : value;
  const name = at >= 0 ? value.slice(0, at) : path.basename(path.resolve(value));
  if (!dir) throw new InvalidArgumentError(`"${value}" names no folder; write NAME=DIR, for example base=models/tiny-legal-base.`);
  return [...previous, { name, dir }];
};

const querySetList = (value: string): QuerySetKind[] => {
  const kinds = value.split(',').map((v) => v.trim());
  const unknown = kinds.find((k) => !(QUERY_SETS as readonly string[]).includes(k));
  if (unknown !== undefined) throw new InvalidArgumentError(`"${unknown}" is not a query set; choose from ${QUERY_SETS.join(', ')}.`);
  return kinds as QuerySetKind[];
};

const wholeNumber =
  (flag: string) =>
  (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${flag} takes a whole number.`);
    return n;
  };

const DEFINITIONS_HELP = `
Definitions (also written into summary.json):
${Object.entries(DEFINITIONS)
  .map(([name, text]) => `  ${name}: ${text}`)
  .join('\n')}
`;

interface AnalysisFlags {
  pairs?: string;
  querySet: QuerySetKind[];
  sink: SinkMode;
  seed: number;
  controls: number;
  permutations: number;
  alpha: number;
}

/** Flags of the measure stage, shared by compare and measure. */
function withAnalysisOptions(command: Command): Command {
  return command
    .option('--pairs <list>', 'model pairs AFTER:BEFORE, comma-separated (default: each model against the previous, and the last against the first)')
    .option('--query-set <list>', `query sets, comma-separated: ${QUERY_SETS.join(', ')}`, querySetList, ['all'] as QuerySetKind[])
    .addOption(new Option('--sink <mode>', 'exclude: also report shares with each row renormalised without the first token (the attention sink)').choices(SINK_MODES as SinkMode[]).default('include'))
    .option('--seed <n>', 'seed of control-span samples and chance draws', wholeNumber('--seed'), 1)
    .option('--controls <n>', 'control spans per sequence at most (all of them when fewer)', wholeNumber('--controls'), 200)
    .option('--permutations <n>', 'chance draws for a p-value (all combinations when fewer)', wholeNumber('--permutations'), 10000)
    .option('--alpha <p>', 'a head beats chance when its p-value is below this', Number, 0.05)
    .addHelpText('after', DEFINITIONS_HELP);
}

const analysisOptions = (flags: AnalysisFlags) => ({
  ...(flags.pairs !== undefined ? { pairs: flags.pairs } : {}),
  querySets: flags.querySet,
  sink: flags.sink,
  seed: flags.seed,
  controls: flags.controls,
  permutations: flags.permutations,
  alpha: flags.alpha,
});

const reportLine = (report: ReportSummary): string => `report: ${report.index} (${report.files.length} files, ${formatBytes(report.bytes)})\n`;

function describeOverall(summary: CompareSummary): string {
  const lines: string[] = [];
  for (const scope of summary.comparison.scopes.filter((s) => s.scope === '*')) {
    for (const change of scope.pairs) {
      const d = change.distribution;
      const beat = change.headsBeatingChance === undefined ? 'no chance baseline' : `${change.headsBeatingChance}/${d.n} heads beat chance`;
      lines.push(`  ${change.pair.padEnd(12)} ${scope.variant.querySet}/${scope.variant.sink}: mean Δ ${d.mean.toExponential(2)}, skewness ${d.skewness.toFixed(2)}, ${(100 * d.fractionRose).toFixed(0)}% of heads rose, ${beat}`);
    }
  }
  return lines.join('\n');
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

  withAnalysisOptions(
    program
      .command('compare')
      .description('trace several checkpoints of one lineage on the concepts, then measure attention shares and compare them pair by pair; writes summary.json, shares.csv, changes.csv, stats.csv, layers.csv')
      .requiredOption('-m, --model <name=dir>', 'a named checkpoint, repeated in lineage order (base, then cpt, then ift)', collectModel)
      .requiredOption('-c, --concepts <path>', 'a concept YAML file or a folder of them')
      .requiredOption('-o, --out <dir>', 'output folder (traces are kept in OUT/traces and reused when identical)')
      .option('--batch-size <n>', 'sequences per forward pass', positiveInteger('--batch-size'), 1)
      .option('--threads <n>', 'CPU threads for onnxruntime', positiveInteger('--threads'))
      .option('--max-map-gb <gb>', 'refuse a sequence whose full maps exceed this many GiB', positiveNumber('--max-map-gb'), 4)
      .option('--no-report', 'do not write the HTML report (OUT/report/index.html)'),
  ).action(async (options: AnalysisFlags & { model: NamedModel[]; concepts: string; out: string; batchSize: number; threads?: number; maxMapGb: number; report: boolean }) => {
    const progress = progressReporter(io, globals().quiet, 'compare');
    try {
      const summary = await compareCheckpoints({
        models: options.model,
        concepts: options.concepts,
        out: options.out,
        batchSize: options.batchSize,
        maxMapBytes: options.maxMapGb * 1024 ** 3,
        ...(options.threads ? { threads: options.threads } : {}),
        ...analysisOptions(options),
        ...cacheOption(),
        onProgress: progress.stage,
      });
      progress.stop();
      io.stdout(`${describeOverall(summary)}\nwrote ${summary.files.join(', ')} to ${summary.out}\n`);
      if (options.report) io.stdout(reportLine(await writeReport(summary.out)));
    } finally {
      progress.stop();
    }
  });

  program
    .command('report')
    .description('write the HTML report of a compare results folder: index.html with the models, definitions and a sortable table of concepts, and a page per concept with SVG heatmaps of shares, changes, distributions, layer curves, attention and difference maps')
    .argument('<results>', 'a folder written by legal-attn compare')
    .option('-o, --out <dir>', 'report folder (default RESULTS/report)')
    .option('--layer <n>', 'layer of the attention and difference maps (default: the last)', wholeNumber('--layer'))
    .option('--head <n>', 'one head for the maps (default: the mean over heads)', wholeNumber('--head'))
    .action(async (results: string, options: { out?: string; layer?: number; head?: number }) => {
      const report = await writeReport(results, {
        ...(options.out !== undefined ? { out: options.out } : {}),
        ...(options.layer !== undefined ? { layer: options.layer } : {}),
        ...(options.head !== undefined ? { head: options.head } : {}),
      });
      io.stdout(reportLine(report));
    });

  withAnalysisOptions(
    program
      .command('measure')
      .description('recompute every measure from the traces a compare run saved (RESULTS/traces), without running a model')
      .argument('<results>', 'a folder written by legal-attn compare')
      .option('-o, --out <dir>', 'where to write the results (default: the results folder)'),
  ).action(async (results: string, options: AnalysisFlags & { out?: string }) => {
    const progress = progressReporter(io, globals().quiet, 'measuring');
    try {
      const summary = await measureResults(results, { ...analysisOptions(options), ...(options.out ? { out: options.out } : {}), onProgress: progress.stage });
      progress.stop();
      io.stdout(`${describeOverall({ ...summary, reusedTraces: [] })}\nwrote ${summary.files.join(', ')} to ${summary.out}\n`);
    } finally {
      progress.stop();
    }
  });

  program
    .command('demo')
    .description('compare the shipped tiny base, cpt and ift checkpoints on the shipped concepts and say where the results are')
    .option('-o, --out <dir>', 'output folder', path.join(PACKAGE_ROOT, 'reports', 'demo'))
    .action(async (options: { out: string }) => {
      const progress = progressReporter(io, globals().quiet, 'demo');
      try {
        const summary = await compareCheckpoints({
          models: ['base', 'cpt', 'ift'].map((name) => ({ name, dir: path.join(PACKAGE_ROOT, 'models', `tiny-legal-${name}`) })),
          concepts: path.join(PACKAGE_ROOT, 'concepts'),
          out: options.out,
          ...cacheOption(),
          onProgress: progress.stage,
        });
        progress.stop();
        const report = await writeReport(summary.out);
        io.stdout(`compared tiny-legal base, cpt and ift on the shipped concepts (${new Set(summary.comparison.sequences.flatMap((s) => s.sequences)).size} sequences)\n${describeOverall(summary)}\nresults: ${path.join(summary.out, 'summary.json')}\n${reportLine(report)}`);
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
