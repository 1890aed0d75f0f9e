import { Command, CommanderError, type Option } from 'commander';
import { exitCodeOf } from '../lib/errors.js';
import { CONFIG_FILE_OPTIONS, loadConfig } from '../lib/options/config.js';
import { OPTIONS } from '../lib/options/option-table.js';
import { onnxruntimeWarnings } from '../lib/runtime/session.js';
import { TOOL_VERSION } from '../lib/version.js';
import { registerBatch } from './commands/batch.js';
import { registerCache } from './commands/cache.js';
import { registerCalibrate } from './commands/calibrate.js';
import { registerCompare } from './commands/compare.js';
import { registerConcepts } from './commands/concepts.js';
import { registerDemo } from './commands/demo.js';
import { registerInspect } from './commands/inspect.js';
import { registerMeasure } from './commands/measure.js';
import { registerMerge } from './commands/merge.js';
import { registerReport } from './commands/report.js';
import { registerSynth } from './commands/synth.js';
import { registerTrace } from './commands/trace.js';
import { createContext, type CliContext, type CliIo, type CliState } from './context.js';

export type { CliIo, CliState } from './context.js';

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  interactive: Boolean(process.stderr.isTTY),
};

/** Config-file keys and the option each one defaults. */
const CONFIG_OPTIONS: Array<[string, string]> = [...CONFIG_FILE_OPTIONS.map((name): [string, string] => [OPTIONS[name].key, name]), ['concepts', 'concepts']];

/** The commands, in the order --help lists them. */
const COMMANDS: Array<(program: Command, context: CliContext) => void> = [
  registerInspect,
  registerTrace,
  registerCompare,
  registerMeasure,
  registerCalibrate,
  registerReport,
  registerBatch,
  registerMerge,
  registerSynth,
  registerCache,
  registerConcepts,
  registerDemo,
];

/** A commander message as one line, without its "error: ". */
const oneLine = (text: string): string => text.replace(/^error: /, '').replace(/\s*\n\s*(?=\S)/g, ' ').trim();

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
      outputError: (text, write) => write(`legal-attn: ${oneLine(text)}\n`),
    })
    .exitOverride();

  const context = createContext(program, io, state);
  // The config file's values default the options of the command that runs, where the command line gives none.
  program.hook('preAction', async (_program, action) => {
    context.config = await loadConfig(context.globals().config);
    for (const [key, option] of CONFIG_OPTIONS) {
      const value = (context.config as Record<string, unknown>)[key];
      const source = action.getOptionValueSource(option);
      if (value !== undefined && action.options.some((o) => o.attributeName() === option) && (source === undefined || source === 'default')) {
        action.setOptionValueWithSource(option, value, 'config');
      }
    }
  });
  for (const register of COMMANDS) register(program, context);
  for (const command of program.commands) unknownOptionsFirst(command, program);
  return program;
}

/** Methods of commander's that its typings leave out. */
interface CommanderInternals {
  unknownOption(flag: string): never;
  missingMandatoryOptionValue(option: Option): never;
}

/**
 * commander checks required options before unknown ones, so `compare --modle DIR` was
 * told "required option '--model' not specified"; the misspelt option is named first,
 * with commander's own "Did you mean --model?".
 */
function unknownOptionsFirst(command: Command, program: Command): void {
  const internals = command as unknown as CommanderInternals;
  const missing = internals.missingMandatoryOptionValue.bind(command);
  const known = (flag: string): boolean => [...command.options, ...program.options].some((option) => option.long === flag || option.short === flag);
  internals.missingMandatoryOptionValue = (option) => {
    // the arguments commander did not take as options: operands, then the first unknown option and what follows it
    const args = command.args.slice(0, command.args.includes('--') ? command.args.indexOf('--') : undefined);
    const unknown = args.find((arg) => /^-[^\d]/.test(arg) && !known(arg.split('=')[0]!));
    if (unknown) internals.unknownOption(unknown);
    return missing(option);
  };
}

/** The one JSON object a failure prints on stdout under --json, beside its line on stderr. */
const jsonFailure = (message: string, exit: number): string => `${JSON.stringify({ error: message, exit })}\n`;

/** Runs the CLI and returns the exit code: 0 ok, 1 runtime failure, 2 bad input. */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const state: CliState = { exitCode: 0 };
  if (argv.includes('--debug')) onnxruntimeWarnings();
  const program = buildProgram(io, state);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return state.exitCode;
  } catch (error) {
    const json = argv.includes('--json');
    // commander has printed its own message (usage errors, --help, --version)
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return 0;
      if (json) io.stdout(jsonFailure(oneLine(error.message), 2));
      return 2;
    }
    const debug = argv.includes('--debug');
    const message = error instanceof Error ? error.message : String(error);
    const exit = exitCodeOf(error);
    io.stderr(`legal-attn: ${message}\n`);
    if (debug && error instanceof Error && error.stack) io.stderr(`${error.stack}\n`);
    if (json) io.stdout(jsonFailure(message, exit));
    return exit;
  }
}
