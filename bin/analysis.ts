import { Command, Option } from 'commander';
import type { AnalysisOptions } from '../lib/options/analysis-options.js';
import { ANALYSIS_OPTIONS, type OptionName } from '../lib/options/option-table.js';
import { DEFINITIONS } from '../lib/results/definitions.js';
import { optionOf, parserOf } from './context.js';

const DEFINITIONS_HELP = `
Definitions (also written into summary.json):
${Object.entries(DEFINITIONS)
  .map(([name, text]) => `  ${name}: ${text}`)
  .join('\n')}
`;

/** The options of an analysis on the command line: the table's, and which pairs are compared. */
const ANALYSIS_FLAGS: readonly OptionName[] = ['pairs', ...ANALYSIS_OPTIONS];

/** Flags of the measure stage, shared by compare, measure and calibrate. */
export function withAnalysisOptions(command: Command): Command {
  for (const name of ANALYSIS_FLAGS) {
    command.addOption(optionOf(name));
    // the flag's earlier name, still read
    if (name === 'querySets') command.addOption(new Option('--query-set <list>').hideHelp().argParser(parserOf('querySets')));
  }
  return command.addHelpText('after', DEFINITIONS_HELP);
}

/** Commander's option values of a command, keyed by option name. */
export type OptionValues = Partial<Record<OptionName, unknown>> & { querySet?: unknown };

/** The values by option name, the earlier `--query-set` read as `--query-sets`. */
export const optionValues = (values: OptionValues): Partial<Record<OptionName, unknown>> => ({ ...values, querySets: values.querySet ?? values.querySets });

/** The analysis options among a command's option values; absent ones stay absent. */
export function analysisOptionsOf(values: OptionValues): AnalysisOptions {
  const named = optionValues(values);
  return Object.fromEntries(ANALYSIS_FLAGS.filter((name) => named[name] !== undefined).map((name) => [name, named[name]]));
}
