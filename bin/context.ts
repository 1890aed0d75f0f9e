import { Command, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import path from 'node:path';
import type { Config } from '../lib/options/config.js';
import { OPTIONS, parseOptionArgument, type OptionName, type OptionSpec } from '../lib/options/option-table.js';
import { type NamedModel } from '../lib/options/run-options.js';

/** Where the CLI writes: injectable so tests drive it in-process. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Whether a progress bar may redraw stderr (a terminal). */
  interactive: boolean;
}

/** What an action tells runCli besides throwing: a batch with failed runs exits 1 after its summary. */
export interface CliState {
  exitCode: number;
}

export interface GlobalOptions {
  debug?: boolean;
  quiet?: boolean;
  json?: boolean;
  cache?: string;
  config?: string;
}

export interface Progress {
  stage: (stage: string, done: number, total: number) => void;
  stop: () => void;
}

/** What every command's action uses: where to write, the global flags, the config file. */
export interface CliContext {
  io: CliIo;
  state: CliState;
  /** The config file, loaded before each action. */
  config: Config;
  globals: () => GlobalOptions;
  /** `{ cacheDir }` from --cache or the config file, or nothing. */
  cacheOption: () => { cacheDir?: string };
  /** Runs long work under a progress bar, stopped before the work's result is returned. */
  withProgress: <T>(work: (bar: Progress) => Promise<T>) => Promise<T>;
  /** Prints the result: JSON on stdout with --json (human text then on stderr), else the human text on stdout. */
  emit: (result: unknown, human: string) => void;
  /** A checkpoint folder, or the folder the config file names for it. */
  modelDir: (model: string) => string;
  /** `--model NAME` of a model named in the config file, as its folder. */
  resolveModels: (models: NamedModel[]) => NamedModel[];
}

export const positiveInteger =
  (flag: string) =>
  (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} takes a whole number of at least 1.`);
    return n;
  };

export const positiveNumber =
  (flag: string) =>
  (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${flag} takes a positive number.`);
    return n;
  };

export const wholeNumber =
  (flag: string) =>
  (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${flag} takes a whole number.`);
    return n;
  };

/** Reads a command-line argument of a declared option; commander prints the problem in one line. */
export const parserOf =
  (name: OptionName) =>
  (text: string): unknown => {
    const parsed = parseOptionArgument(name, text);
    if ('problem' in parsed) throw new InvalidArgumentError(`${parsed.problem}.`);
    return parsed.value;
  };

/**
 * The commander option of a declared option (lib/options/option-table.ts), with this
 * command's help or default where they differ; `negate` makes a switch `--no-KEY`.
 */
export function optionOf(name: OptionName, overrides: { help?: string; default?: unknown; negate?: boolean } = {}): Option {
  const spec: OptionSpec = OPTIONS[name];
  const flag = overrides.negate ? `--no-${spec.key}` : spec.value ? `--${spec.key} <${spec.value}>` : `--${spec.key}`;
  const option = new Option(flag, overrides.help ?? spec.help);
  if (spec.choices) option.choices(spec.choices);
  else if (spec.value) option.argParser(parserOf(name));
  const fallback = 'default' in overrides ? overrides.default : spec.default;
  if (fallback !== undefined) option.default(fallback);
  return option;
}

/** `--model NAME=DIR`, or `--model NAME` for a model named in the config file, or `--model DIR`. */
export const collectModel = (value: string, previous: NamedModel[] = []): NamedModel[] => {
  const at = value.indexOf('=');
  const dir = at >= 0 ? value.slice(at + 1) : value;
  const name = at >= 0 ? value.slice(0, at) : path.basename(path.resolve(value));
  if (!dir) throw new InvalidArgumentError(`"${value}" names no folder; write NAME=DIR, for example base=models/tiny-legal-base.`);
  return [...previous, { name, dir }];
};

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

/** The context of `program`'s commands: its global flags, and the config file once preAction has loaded it. */
export function createContext(program: Command, io: CliIo, state: CliState): CliContext {
  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  const context: CliContext = {
    io,
    state,
    config: {},
    globals,
    cacheOption: () => {
      const cache = globals().cache ?? context.config.cache;
      return cache ? { cacheDir: cache } : {};
    },
    withProgress: async (work) => {
      const bar = progressBar(io, Boolean(globals().quiet || globals().json));
      try {
        return await work(bar);
      } finally {
        bar.stop();
      }
    },
    emit: (result, human) => {
      if (globals().json) {
        io.stdout(`${JSON.stringify(result, null, 2)}\n`);
        if (!globals().quiet && human) io.stderr(human);
      } else {
        io.stdout(human);
      }
    },
    modelDir: (model) => context.config.models?.[model] ?? model,
    resolveModels: (models) => models.map((m) => (m.dir === m.name && context.config.models?.[m.name] ? { name: m.name, dir: context.config.models[m.name]! } : m)),
  };
  return context;
}
