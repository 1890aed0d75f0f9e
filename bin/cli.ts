import type { SpanRule } from '../lib/tokenize/align-spans.js';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import path from 'node:path';
import { mergeBatches, runBatch, type BatchSummary } from '../lib/commands/batch.js';
import { checkConcepts, formatCheckedConcepts } from '../lib/commands/concepts.js';
import { CONFIG_FILE_OPTIONS, loadConfig, type Config } from '../lib/options/config.js';
import { badInput, exitCodeOf } from '../lib/errors.js';
import { OPTIONS, parseOptionArgument, type OptionName, type OptionSpec } from '../lib/options/option-table.js';
import { formatBytes, formatInspectReport, inspectCheckpoint } from '../lib/commands/inspect.js';
import type { SinkMode } from '../lib/measure/attention-share.js';
import { DEFINITIONS } from '../lib/results/definitions.js';
import type { QuerySetKind } from '../lib/measure/query-set.js';
import { writeReport, type ReportSummary } from '../lib/report/build-report.js';
import { compareCheckpoints, type CompareSummary, type NamedModel } from '../lib/commands/compare.js';
import { measureResults } from '../lib/commands/measure.js';
import { calibratePair, type CalibrateSummary } from '../lib/commands/calibrate.js';
import { negativeControlShare } from '../lib/compare/negative-controls.js';
import { traceToFolder } from '../lib/commands/trace.js';
import { cacheRoot } from '../lib/checkpoint/cache-folder.js';
import { clearTraceCache, findCachedModel, listTraceCache } from '../lib/runtime/trace-cache.js';
import { ATTENTION_FORMS, NORM_FORMS, synthCheckpoint, type AttentionForm, type NormForm } from '../lib/synth/synth-checkpoint.js';
import type { Device } from '../lib/runtime/session.js';
import { PACKAGE_ROOT, TOOL_VERSION } from '../lib/version.js';
import { type MapsMode } from '../lib/plan/planned-sequence.js';

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

const wholeNumber =
  (flag: string) =>
  (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${flag} takes a whole number.`);
    return n;
  };

/** Reads a command-line argument of a declared option; commander prints the problem in one line. */
const parserOf =
  (name: OptionName) =>
  (text: string): unknown => {
    const parsed = parseOptionArgument(name, text);
    if ('problem' in parsed) throw new InvalidArgumentError(`${parsed.problem}.`);
    return parsed.value;
  };

/** The commander option of a declared option (`lib/options.ts`), with this command's help or default where they differ. */
function optionOf(name: OptionName, overrides: { help?: string; default?: unknown } = {}): Option {
  const spec: OptionSpec = OPTIONS[name];
  const option = new Option(spec.value ? `--${spec.key} <${spec.value}>` : `--${spec.key}`, overrides.help ?? spec.help);
  if (spec.choices) option.choices(spec.choices);
  else if (spec.value) option.argParser(parserOf(name));
  const fallback = 'default' in overrides ? overrides.default : spec.default;
  if (fallback !== undefined) option.default(fallback);
  return option;
}

/** `--model NAME=DIR`, or `--model NAME` for a model named in the config file, or `--model DIR`. */
const collectModel = (value: string, previous: NamedModel[] = []): NamedModel[] => {
  const at = value.indexOf('=');
  const dir = at >= 0 ? value.slice(at + 1) : value;
  const name = at >= 0 ? value.slice(0, at) : path.basename(path.resolve(value));
  if (!dir) throw new InvalidArgumentError(`"${value}" names no folder; write NAME=DIR, for example base=models/tiny-legal-base.`);
  return [...previous, { name, dir }];
};

interface GlobalOptions {
  debug?: boolean;
  quiet?: boolean;
  json?: boolean;
  cache?: string;
  config?: string;
}

interface Progress {
  stage: (stage: string, done: number, total: number) => void;
  stop: () => void;
}

/** A progress bar on stderr for long work; silent with --quiet or --json or when stderr is not a terminal. */
function progressBar(io: CliIo, silent: boolean): Progress {
  if (silent || !io.interactive) return { stage: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: '{stage} [{bar}] {value}/{total} | {duration_formatted}', hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let current: string | undefined;
  return {
    stage(name, done, total) {
      if (current !== name) {
        if (current !== undefined) bar.stop();
        bar.start(total, 0, { stage: name });
        current = name;
      }
      bar.update(done);
    },
    stop() {
      if (current !== undefined) bar.stop();
      current = undefined;
    },
  };
}

const DEFINITIONS_HELP = `
Definitions (also written into summary.json):
${Object.entries(DEFINITIONS)
  .map(([name, text]) => `  ${name}: ${text}`)
  .join('\n')}
`;

interface AnalysisFlags {
  pairs?: string;
  querySets: QuerySetKind[];
  querySet?: QuerySetKind[];
  sink: SinkMode;
  spanTokens: SpanRule[];
  seed: number;
  controls: number;
  permutations: number;
  alpha: number;
}

/** Flags of the measure stage, shared by compare and measure. */
function withAnalysisOptions(command: Command): Command {
  return command
    .option('--pairs <list>', 'model pairs AFTER:BEFORE, comma-separated (default: each model against the previous, and the last against the first)')
    .addOption(optionOf('querySets'))
    // the flag's earlier name, still read
    .addOption(new Option('--query-set <list>').hideHelp().argParser(parserOf('querySets')))
    .addOption(optionOf('sink'))
    .addOption(optionOf('spanTokens'))
    .addOption(optionOf('seed'))
    .addOption(optionOf('controls'))
    .addOption(optionOf('permutations'))
    .addOption(optionOf('alpha'))
    .addHelpText('after', DEFINITIONS_HELP);
}

const analysisOptions = (flags: AnalysisFlags) => ({
  ...(flags.pairs !== undefined ? { pairs: flags.pairs } : {}),
  querySets: flags.querySet ?? flags.querySets,
  sink: flags.sink,
  spanTokens: flags.spanTokens,
  seed: flags.seed,
  controls: flags.controls,
  permutations: flags.permutations,
  alpha: flags.alpha,
});

/** Config-file keys and the option each one defaults. */
const CONFIG_OPTIONS: Array<[string, string]> = [...CONFIG_FILE_OPTIONS.map((name): [string, string] => [OPTIONS[name].key, name]), ['concepts', 'concepts']];

function overallLines(summary: Pick<CompareSummary, 'comparison' | 'representations'>): string {
  const lines: string[] = [];
  for (const scope of summary.comparison.scopes.filter((s) => s.scope === '*')) {
    if (scope.unmeasurable) {
      lines.push(`  ${scope.variant.querySet}/${scope.variant.sink}: not measurable, ${scope.unmeasurable}`);
      continue;
    }
    const skipped = scope.skipped.length > 0 ? `; ${scope.skipped.length} sequence(s) with no query in ${scope.variant.querySet} left out` : '';
    for (const change of scope.pairs) {
      const d = change.distribution;
      const o = change.overall;
      const beat = o === undefined ? 'no concept could be tested' : `${o.conceptsBeatingChance}/${o.concepts} concepts beat chance (chance gives ${o.expectedByChance.toFixed(1)}, p ${o.pValue.toPrecision(2)})`;
      const controls = negativeControlShare(summary.comparison.negativeControls, change.pair, scope.variant);
      const own = controls ? `; negative controls ${(100 * controls.rate).toFixed(1)}% of ${controls.words} words` : '';
      const target = scope.variant.target === 'concept' ? '' : `${scope.variant.target} `;
      lines.push(`  ${change.pair.padEnd(12)} ${target}${scope.variant.querySet}/${scope.variant.sink}: mean Δ ${d.mean.toExponential(2)}, skewness ${d.skewness.toFixed(2)}, ${(100 * d.fractionRose).toFixed(0)}% of heads rose, ${beat}${own}${skipped}`);
    }
  }
  const states = summary.representations && !('skipped' in summary.representations) ? summary.representations : undefined;
  for (const change of states?.changes.filter((c) => c.scope === '*' && c.overall) ?? []) {
    const o = change.overall!;
    const controls = negativeControlShare(states!.negativeControls, change.pair);
    lines.push(`  ${change.pair.padEnd(12)} representations: ${o.conceptsBeatingChance}/${o.concepts} concepts beat chance (chance gives ${o.expectedByChance.toFixed(1)}, p ${o.pValue.toPrecision(2)})${controls ? `; negative controls ${(100 * controls.rate).toFixed(1)}% of ${controls.words} words` : ''}`);
  }
  return lines.join('\n');
}

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

/** The machine-readable result of compare and measure: where things are, and the headline numbers. */
function compareResult(summary: Pick<CompareSummary, 'comparison' | 'out' | 'files'>, report?: ReportSummary) {
  return {
    out: summary.out,
    files: summary.files,
    ...(report ? { report: report.index } : {}),
    overall: summary.comparison.scopes
      .filter((s) => s.scope === '*')
      .flatMap((s) =>
        s.pairs.map((c) => ({
          pair: c.pair,
          querySet: s.variant.querySet,
          sink: s.variant.sink,
          meanDelta: c.distribution.mean,
          skewness: c.distribution.skewness,
          fractionRose: c.distribution.fractionRose,
          conceptsBeatingChance: c.overall?.conceptsBeatingChance ?? null,
          concepts: c.overall?.concepts ?? null,
          conceptsPValue: c.overall?.pValue ?? null,
          negativeControlRate: negativeControlShare(summary.comparison.negativeControls, c.pair, s.variant)?.rate ?? null,
          heads: c.distribution.n,
        })),
      ),
  };
}

const reportLine = (report: ReportSummary): string => `report: ${report.index} (${report.files.length} files, ${formatBytes(report.bytes)})\n`;

function batchLines(summary: BatchSummary): string {
  const lines = summary.runs.map((r) => `  ${r.status.padEnd(6)} ${r.name} → ${r.out} (${r.seconds} s)${r.reason ? `: ${r.reason}` : ''}`);
  lines.push(`${summary.runs.length} runs: ${summary.done} done, ${summary.cached} cached, ${summary.failed} failed; ${summary.traced} sequences traced now; ${summary.seconds} s`);
  return `${lines.join('\n')}\n`;
}

/** What an action tells runCli besides throwing: a batch with failed runs exits 1 after its summary. */
export interface CliState {
  exitCode: number;
}

/** The legal-attn command line; `bin/legal-attn.ts` runs it on process.argv. */
export function buildProgram(io: CliIo = processIo, state: CliState = { exitCode: 0 }): Command {
  const program = new Command('legal-attn')
    .description("Where a language model's attention goes on annotated legal concepts, and how continued pre-training and instruction tuning change it.")
    .version(TOOL_VERSION)
    .option('--cache <dir>', 'cache folder for traces, patched graphs and hashes (default $LEGAL_ATTN_CACHE or ~/.cache/legal-attn)')
    .option('--config <file>', 'defaults from this YAML file (default ./legal-attn.config.yaml when present)')
    .option('--json', 'print one machine-readable result on stdout; human text goes to stderr')
    .option('-q, --quiet', 'no progress or messages on stderr')
    .option('--debug', 'print stack traces of errors')
    .addHelpText('after', '\nExit codes: 0 success, 1 runtime failure, 2 bad input.')
    .configureOutput({
      writeOut: io.stdout,
      writeErr: io.stderr,
      // One line, like every other error: "legal-attn: unknown option '--mapz' (Did you mean --maps?)".
      outputError: (text, write) => write(`legal-attn: ${text.replace(/^error: /, '').replace(/\s*\n\s*(?=\S)/g, ' ').trim()}\n`),
    })
    .exitOverride();

  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  let config: Config = {};
  const cacheOption = (): { cacheDir?: string } => {
    const cache = globals().cache ?? config.cache;
    return cache ? { cacheDir: cache } : {};
  };
  const progress = (): Progress => progressBar(io, Boolean(globals().quiet || globals().json));
  /** Prints the result: JSON on stdout with --json (human text then on stderr), else the human text on stdout. */
  const emit = (result: unknown, human: string): void => {
    if (globals().json) {
      io.stdout(`${JSON.stringify(result, null, 2)}\n`);
      if (!globals().quiet && human) io.stderr(human);
    } else {
      io.stdout(human);
    }
  };
  const resolveModels = (models: NamedModel[]): NamedModel[] => models.map((m) => (m.dir === m.name && config.models?.[m.name] ? { name: m.name, dir: config.models[m.name]! } : m));

  program.hook('preAction', async (_program, action) => {
    config = await loadConfig(globals().config);
    for (const [key, option] of CONFIG_OPTIONS) {
      const value = (config as Record<string, unknown>)[key];
      const source = action.getOptionValueSource(option);
      if (value !== undefined && action.options.some((o) => o.attributeName() === option) && (source === undefined || source === 'default')) {
        action.setOptionValueWithSource(option, value, 'config');
      }
    }
  });

  program
    .command('inspect')
    .description("show what legal-attn finds in a checkpoint: layers, heads, the node of each layer's attention, inputs and outputs, and the memory of a full attention map")
    .requiredOption('-m, --model <dir>', 'checkpoint folder (model.onnx, its external data, tokenizer.json, config.json)')
    .option('--length <tokens>', "sequence length for the memory estimate (default: the model's maximum, at most 4096)", positiveInteger('--length'))
    .action(async (options: { model: string; length?: number }) => {
      const report = await inspectCheckpoint(config.models?.[options.model] ?? options.model, { ...cacheOption(), ...(options.length ? { length: options.length } : {}) });
      emit(report, formatInspectReport(report));
    });

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
    .option('--batch-size <n>', 'sequences per forward pass, padded on the right', positiveInteger('--batch-size'), 1)
    .addOption(optionOf('threads'))
    .addOption(optionOf('device', { default: 'cpu' }))
    .option('--max-map-gb <gb>', 'refuse --maps full above this many GiB per sequence', positiveNumber('--max-map-gb'), 4)
    .action(async (options: { model: string; text?: string; concepts?: string; out: string; force?: boolean; maps: MapsMode; chatTemplate?: boolean; traceCache: boolean; batchSize: number; threads?: number; device: Device; maxMapGb: number }) => {
      const bar = progress();
      try {
        const summary = await traceToFolder({
          model: config.models?.[options.model] ?? options.model,
          ...(options.text !== undefined ? { text: options.text } : {}),
          ...(options.concepts !== undefined ? { concepts: options.concepts } : {}),
          out: options.out,
          force: Boolean(options.force),
          maps: options.maps,
          chatTemplate: Boolean(options.chatTemplate),
          useCache: options.traceCache,
          batchSize: options.batchSize,
          maxMapBytes: options.maxMapGb * 1024 ** 3,
          ...(options.threads ? { threads: options.threads } : {}),
          device: options.device,
          ...cacheOption(),
          onProgress: (done, total) => bar.stage('tracing', done, total),
        });
        bar.stop();
        const human = globals().quiet ? '' : `traced ${summary.sequences.length} sequence(s) on ${summary.checkpoint.name} (${summary.computed} run, ${summary.fromCache} from the trace cache); wrote ${summary.out}\n`;
        if (globals().json) emit({ out: summary.out, model: summary.checkpoint.name, contentHash: summary.checkpoint.contentHash, sequences: summary.sequences, computed: summary.computed, fromCache: summary.fromCache }, human);
        else io.stderr(human);
      } finally {
        bar.stop();
      }
    });

  withAnalysisOptions(
    program
      .command('compare')
      .description('run several checkpoints of one lineage on the concepts, one at a time, measuring attention shares inside each graph, and compare them pair by pair; writes summary.json, shares.csv, changes.csv, stats.csv, layers.csv and the HTML report')
      .requiredOption('-m, --model <name=dir>', 'a named checkpoint, repeated in lineage order (base, then cpt, then ift)', collectModel)
      .option('-c, --concepts <path>', 'a concept YAML file or a folder of them (required unless the config file names one)')
      .requiredOption('-o, --out <dir>', 'output folder, replaced whole by this run (tokens and kept maps in OUT/traces; passes come from the trace cache when identical)')
      .option('--force', 'replace an --out folder that holds files legal-attn did not write')
      .addOption(optionOf('chatTemplate'))
      .option('--batch-size <n>', 'sequences per forward pass (default: 8 for texts of up to 256 tokens measured in the graph, else 1)', positiveInteger('--batch-size'))
      .addOption(optionOf('threads'))
      .addOption(optionOf('device', { default: 'cpu' }))
      .addOption(optionOf('maps', { default: 'mean' }))
      .addOption(optionOf('mapLayers'))
      .option('--max-map-gb <gb>', 'with --maps full, refuse a sequence whose full maps exceed this many GiB', positiveNumber('--max-map-gb'), 4)
      .option('--max-memory-gb <gb>', "memory one layer's attention may take in a pass measured in the graph; texts beyond 128 tokens run each layer as a loop over blocks of at most 128 queries (fewer to fit this), so no [heads, T, T] tensor exists", positiveNumber('--max-memory-gb'), 2)
      .option('--no-representations', "do not capture the residual stream (representation change, CKA and probes in representations.csv); saves one forward pass per sequence and model")
      .option('--no-report', 'do not write the HTML report (OUT/report/index.html)'),
  ).action(async (options: AnalysisFlags & { model: NamedModel[]; concepts?: string; out: string; force?: boolean; chatTemplate?: boolean; batchSize?: number; threads?: number; device: Device; maps: MapsMode; mapLayers?: number[]; maxMapGb: number; maxMemoryGb: number; representations: boolean; report: boolean }) => {
    if (!options.concepts) throw badInput('compare needs --concepts PATH (or concepts: in the config file).');
    const bar = progress();
    try {
      const summary = await compareCheckpoints({
        models: resolveModels(options.model),
        concepts: options.concepts,
        out: options.out,
        force: Boolean(options.force),
        chatTemplate: Boolean(options.chatTemplate),
        ...(options.batchSize ? { batchSize: options.batchSize } : {}),
        maxMapBytes: options.maxMapGb * 1024 ** 3,
        maxMemoryBytes: options.maxMemoryGb * 1024 ** 3,
        maps: options.maps,
        device: options.device,
        representations: options.representations,
        ...(options.mapLayers ? { mapLayers: options.mapLayers } : {}),
        ...(options.threads ? { threads: options.threads } : {}),
        ...analysisOptions(options),
        ...cacheOption(),
        onProgress: bar.stage,
      });
      bar.stop();
      if (summary.representations && 'skipped' in summary.representations && !globals().quiet) io.stderr(`representations not measured: ${summary.representations.skipped}\n`);
      const report = options.report ? await writeReport(summary.out) : undefined;
      emit(compareResult(summary, report), `${overallLines(summary)}\nwrote ${summary.files.join(', ')} to ${summary.out}\n${report ? reportLine(report) : ''}`);
    } finally {
      bar.stop();
    }
  });

  withAnalysisOptions(
    program
      .command('measure')
      .description('recompute every measure from the per-head maps a compare --maps full run saved (RESULTS/traces), without running a model')
      .argument('<results>', 'a folder written by legal-attn compare')
      .option('-o, --out <dir>', 'where to write the results (default: the results folder)'),
  ).action(async (results: string, options: AnalysisFlags & { out?: string }) => {
    const bar = progress();
    try {
      const summary = await measureResults(results, { ...analysisOptions(options), ...(options.out ? { out: options.out } : {}), onProgress: bar.stage });
      bar.stop();
      emit(compareResult(summary), `${overallLines(summary)}\nwrote ${summary.files.join(', ')} to ${summary.out}\n`);
    } finally {
      bar.stop();
    }
  });

  withAnalysisOptions(
    program
      .command('calibrate')
      .description("how often this pair's findings arise when nothing concept-specific changed: compares B against A, then K copies of A with noise on every weight matrix as large as that tensor's change from A to B, through the same pipeline, and sets the pair's count of concepts beating chance beside the copies'")
      .requiredOption('-m, --model <name=dir>', 'the pair, before then after (--model base=DIR --model cpt=DIR)', collectModel)
      .option('-c, --concepts <path>', 'a concept YAML file or a folder of them (required unless the config file names one)')
      .requiredOption('-o, --out <dir>', 'output folder, replaced whole: OUT/pair (the real comparison), OUT/nulls/copy-K, OUT/calibration.json')
      .option('--copies <k>', 'concept-agnostic copies of the first model (each as large as it on disk, one at a time)', positiveInteger('--copies'), 4)
      .option('--force', 'replace an --out folder that holds files legal-attn did not write')
      .addOption(optionOf('threads'))
      .addOption(optionOf('device', { default: 'cpu' }))
      .option('--no-representations', 'attention only'),
  ).action(async (options: AnalysisFlags & { model: NamedModel[]; concepts?: string; out: string; copies: number; force?: boolean; threads?: number; device: Device; representations: boolean }) => {
    if (!options.concepts) throw badInput('calibrate needs --concepts PATH (or concepts: in the config file).');
    const models = resolveModels(options.model);
    if (models.length !== 2) throw badInput(`calibrate takes one pair: --model A=DIR --model B=DIR (given ${models.length}).`);
    const bar = progress();
    try {
      const summary = await calibratePair({
        models: [models[0]!, models[1]!],
        concepts: options.concepts,
        out: options.out,
        copies: options.copies,
        force: Boolean(options.force),
        device: options.device,
        representations: options.representations,
        ...(options.threads ? { threads: options.threads } : {}),
        ...analysisOptions(options),
        ...cacheOption(),
        onProgress: bar.stage,
      });
      bar.stop();
      emit(summary, calibrationLines(summary));
    } finally {
      bar.stop();
    }
  });

  program
    .command('report')
    .description('write the HTML report of a compare results folder: index.html with the models, definitions and a sortable table of concepts, and a page per concept with SVG heatmaps of shares, changes, distributions, layer curves, attention and difference maps')
    .argument('<results>', 'a folder written by legal-attn compare')
    .option('-o, --out <dir>', 'report folder (default RESULTS/report)')
    .option('--layer <n>', 'layer of the attention and difference maps (default: the last)', wholeNumber('--layer'))
    .option('--head <n>', 'one head for the maps (default: the mean over heads)', wholeNumber('--head'))
    .addOption(new Option('--map-models <which>', 'attention maps of the first model only (the difference maps show the others) or of every model').choices(['first', 'all']).default('first'))
    .action(async (results: string, options: { out?: string; layer?: number; head?: number; mapModels: 'first' | 'all' }) => {
      const report = await writeReport(results, {
        mapModels: options.mapModels,
        ...(options.out !== undefined ? { out: options.out } : {}),
        ...(options.layer !== undefined ? { layer: options.layer } : {}),
        ...(options.head !== undefined ? { head: options.head } : {}),
      });
      emit(report, reportLine(report));
    });

  program
    .command('batch')
    .description('run every study of a manifest (models, concept sets, options, output folders): the whole manifest is checked first, each model is loaded once, traces are cached so an interrupted batch resumes where it stopped')
    .argument('<manifest>', 'a batch manifest YAML file (see "Batch runs" in the README)')
    .option('--shard <k/n>', 'run only the K-th of N slices of the runs (for cluster array jobs); join the slices with legal-attn merge')
    .option('--out-root <dir>', "where the runs' out folders go (default: the manifest's folder)")
    .option('--fail-fast', 'stop at the first failing run')
    .option('--batch-size <n>', 'sequences per forward pass (default 1, so that a resumed batch gives the bytes of an uninterrupted one)', positiveInteger('--batch-size'))
    .addOption(optionOf('threads'))
    .addOption(optionOf('device', { help: 'execution provider of the runs that name none in the manifest (default: cpu)' }))
    .action(async (manifest: string, options: { shard?: string; outRoot?: string; failFast?: boolean; batchSize?: number; threads?: number; device?: Device }) => {
      const bar = progress();
      try {
        const summary = await runBatch({
          manifest,
          ...(options.shard ? { shard: options.shard } : {}),
          ...(options.outRoot ? { outRoot: options.outRoot } : {}),
          failFast: Boolean(options.failFast),
          ...(options.batchSize ? { batchSize: options.batchSize } : {}),
          ...(options.threads ? { threads: options.threads } : {}),
          ...(options.device ? { device: options.device } : {}),
          ...cacheOption(),
          onProgress: bar.stage,
        });
        bar.stop();
        emit(summary, batchLines(summary));
        if (summary.failed > 0) state.exitCode = 1;
      } finally {
        bar.stop();
      }
    });

  program
    .command('merge')
    .description('join the results of batch slices (--shard K/N, each with its own --out-root) into one folder, as one machine would have written it')
    .argument('<dirs...>', 'the slices\' --out-root folders')
    .requiredOption('-o, --out <dir>', 'the merged folder')
    .action(async (dirs: string[], options: { out: string }) => {
      const summary = await mergeBatches(dirs, options.out);
      emit(summary, batchLines(summary));
    });

  program
    .command('synth')
    .description('write a Mistral-architecture ONNX checkpoint with seeded random weights (graph, model.onnx_data, the shipped tokenizer, config.json), to test and benchmark 7B-shaped attention without 7B weights')
    .requiredOption('-o, --out <dir>', 'checkpoint folder to write')
    .option('--layers <n>', 'decoder layers', positiveInteger('--layers'), 32)
    .option('--heads <n>', 'attention heads', positiveInteger('--heads'), 32)
    .option('--kv-heads <n>', 'key/value heads (grouped-query attention)', positiveInteger('--kv-heads'), 8)
    .option('--hidden <n>', 'hidden size (heads × head size)', positiveInteger('--hidden'), 256)
    .option('--vocab <n>', 'vocabulary size (at least 4096, the shipped tokenizer)', positiveInteger('--vocab'), 4096)
    .option('--sliding-window <n>', 'attend to at most this many previous tokens, as Mistral-7B v0.1 does', positiveInteger('--sliding-window'))
    .addOption(
      new Option('--attention <form>', 'how attention is written: decomposed (MatMul → Softmax → MatMul, as PyTorch exports it); gqa (com.microsoft GroupQueryAttention with rotary inside and packed query/key/value, as onnxruntime\'s model builder writes it); gqa-rotary-outside; gqa-unpacked; mha (com.microsoft MultiHeadAttention, as onnxruntime\'s optimizer fuses it); onnx-attention (ONNX Attention, opset 23, as PyTorch exports scaled_dot_product_attention); ms-attention (com.microsoft Attention, q/k/v projected inside the kernel, as onnxruntime\'s optimizer fuses GPT-2-like models; needs --positions none). The same seed gives the same weights in every form')
        .choices([...ATTENTION_FORMS])
        .default('decomposed'),
    )
    .addOption(
      new Option('--norm <form>', "how RMSNorm and the residual additions are written: decomposed (as PyTorch exports them); fused (SimplifiedLayerNormalization and com.microsoft SkipSimplifiedLayerNormalization, as onnxruntime's model builder writes them). The same seed gives the same weights")
        .choices([...NORM_FORMS])
        .default('decomposed'),
    )
    .option('--softcap <cap>', 'scaled scores s become cap·tanh(s / cap) before the mask, as Gemma 2 does (decomposed and gqa forms)', positiveNumber('--softcap'))
    .option('--rotary-interleaved', 'rotary on adjacent channel pairs, as GPT-J does, instead of on the two halves')
    .addOption(new Option('--positions <kind>', 'position encoding: rotary, or none (no position encoding, for --attention ms-attention)').choices(['rotary', 'none']).default('rotary'))
    .option('--max-positions <n>', 'positions of the rotary tables (the longest text the model takes)', positiveInteger('--max-positions'), 8192)
    .option('--seed <n>', 'seed of the random weights', wholeNumber('--seed'), 1)
    .action(async (options: { out: string; layers: number; heads: number; kvHeads: number; hidden: number; vocab: number; slidingWindow?: number; softcap?: number; rotaryInterleaved?: boolean; positions: 'rotary' | 'none'; attention: AttentionForm; norm: NormForm; maxPositions: number; seed: number }) => {
      const dir = await synthCheckpoint(options.out, {
        layers: options.layers,
        heads: options.heads,
        kvHeads: options.kvHeads,
        hidden: options.hidden,
        vocab: options.vocab,
        seed: options.seed,
        attention: options.attention,
        norm: options.norm,
        maxPositions: options.maxPositions,
        ...(options.slidingWindow ? { slidingWindow: options.slidingWindow } : {}),
        ...(options.softcap ? { softcap: options.softcap } : {}),
        ...(options.rotaryInterleaved ? { rotaryInterleaved: true } : {}),
        positions: options.positions,
      });
      const shape = `${options.layers} layers × ${options.heads} heads (${options.kvHeads} key/value heads), hidden ${options.hidden}, vocabulary ${options.vocab}`;
      emit({ ...options, out: dir }, `wrote a synthetic checkpoint of ${shape}${options.slidingWindow ? `, sliding window ${options.slidingWindow}` : ''}, ${options.attention} attention, ${options.maxPositions} positions, to ${dir}\n`);
    });

  const cache = program.command('cache').description('the trace cache: what it holds, and clearing it');
  cache
    .command('ls')
    .description('list cached traces per model: content hash, the folders it was read from, traces, size')
    .action(async () => {
      const root = cacheRoot(cacheOption().cacheDir);
      const listing = await listTraceCache(root);
      const lines = listing.map((l) => `  ${l.model.slice(0, 12)}  ${String(l.entries).padStart(6)} traces  ${formatBytes(l.bytes).padStart(9)}  ${l.folders.join(', ') || '(folder not recorded)'}`);
      emit({ root, models: listing }, `${root}\n${lines.join('\n') || '  (no cached traces)'}\n`);
    });
  cache
    .command('clear')
    .description('delete the cached traces of one model (--model), or the whole cache')
    .option('--model <name>', 'only the traces of this model: its folder, folder name, or a content-hash prefix')
    .action(async (options: { model?: string }) => {
      const root = cacheRoot(cacheOption().cacheDir);
      if (!options.model) {
        await clearTraceCache(root);
        emit({ root, cleared: 'all' }, `cleared the cache in ${root}\n`);
        return;
      }
      const model = findCachedModel(await listTraceCache(root), options.model);
      await clearTraceCache(root, model.model);
      const name = model.folders.map((f) => path.basename(f)).join(', ') || model.model.slice(0, 12);
      emit({ root, cleared: model }, `removed ${model.entries} traces (${formatBytes(model.bytes)}) of ${name} (${model.model.slice(0, 12)}) from ${root}\n`);
    });

  const concepts = program.command('concepts').description('concept files');
  concepts
    .command('check')
    .description('validate concept files and, with --model, show the tokens each span covers under that model\'s tokenizer')
    .argument('<path>', 'a concept YAML file or a folder of them')
    .option('-m, --model <dir>', 'a checkpoint whose tokenizer to use')
    .option('--chat-template', "wrap each sequence in the checkpoint's chat template")
    .action(async (target: string, options: { model?: string; chatTemplate?: boolean }) => {
      const model = options.model ? (config.models?.[options.model] ?? options.model) : undefined;
      const checked = await checkConcepts(target, { ...(model ? { model } : {}), chatTemplate: Boolean(options.chatTemplate) });
      emit(checked, formatCheckedConcepts(checked));
    });

  program
    .command('demo')
    .description('compare the shipped tiny base, cpt and ift checkpoints on the shipped concepts, write the HTML report and say where it is')
    .option('-o, --out <dir>', 'output folder', path.join(PACKAGE_ROOT, 'reports', 'demo'))
    .action(async (options: { out: string }) => {
      const bar = progress();
      try {
        const summary = await compareCheckpoints({
          models: ['base', 'cpt', 'ift'].map((name) => ({ name, dir: path.join(PACKAGE_ROOT, 'models', `tiny-legal-${name}`) })),
          concepts: path.join(PACKAGE_ROOT, 'concepts'),
          out: options.out,
          ...cacheOption(),
          onProgress: bar.stage,
        });
        bar.stop();
        const report = await writeReport(summary.out);
        const sequences = new Set(summary.comparison.sequences.flatMap((s) => s.sequences)).size;
        emit(compareResult(summary, report), `compared tiny-legal base, cpt and ift on the shipped concepts (${sequences} sequences)\n${overallLines(summary)}\nresults: ${path.join(summary.out, 'summary.json')}\n${reportLine(report)}`);
      } finally {
        bar.stop();
      }
    });

  return program;
}

/** Runs the CLI and returns the exit code: 0 ok, 1 runtime failure, 2 bad input. */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const state: CliState = { exitCode: 0 };
  const program = buildProgram(io, state);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return state.exitCode;
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
