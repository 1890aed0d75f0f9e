import os from 'node:os';
import { z } from 'zod';
import { badInput } from '../errors.js';
import { SINK_MODES } from '../measure/attention-share.js';
import { QUERY_SETS } from '../measure/query-set.js';
import { SPAN_RULES } from '../tokenize/align-spans.js';
import { DEVICES } from '../runtime/session.js';
import { MAPS_MODES } from '../measure/maps-mode.js';

/**
 * One option, declared once: its key (the flag `--key`, and the key of config files and
 * batch manifests), its help, its values and its default. The command line, the config
 * file and manifests are all read through these declarations (ESLint's `lib/options.js`
 * is laid out the same way), so an option means the same everywhere.
 */
export interface OptionSpec {
  key: string;
  /** Placeholder of the value in --help; none for a switch. */
  value?: string;
  help: string;
  schema: z.ZodType;
  /** How a command-line argument becomes a value for the schema: lists are comma-separated. */
  form: 'number' | 'string' | 'strings' | 'numbers' | 'switch';
  default?: unknown;
  choices?: readonly string[];
  /** What a valid value is, as said when one is not: "be a whole number from 1 to 100000". */
  expect?: string;
  /** For lists of names: what one item is ("a query set") and the names allowed. */
  item?: { what: string; names: readonly string[] };
}

/** The cores onnxruntime may use on this machine: the bound of --threads. */
const CORES = os.availableParallelism();

const whole = (min: number, max = Number.MAX_SAFE_INTEGER): z.ZodNumber => z.number().int().min(min).max(max);

export const OPTIONS = {
  querySets: {
    key: 'query-sets',
    value: 'list',
    help: `query sets, comma-separated: ${QUERY_SETS.join(', ')} (all: every query; after: queries after the concept; outside: queries not in it)`,
    schema: z.array(z.enum(QUERY_SETS as [string, ...string[]])).min(1),
    form: 'strings',
    default: ['all'],
    item: { what: 'a query set', names: QUERY_SETS },
  },
  sink: {
    key: 'sink',
    value: 'mode',
    help: 'exclude: also report shares with each row renormalised without the first token (the attention sink)',
    schema: z.enum(SINK_MODES as [string, ...string[]]),
    form: 'string',
    default: 'include',
    choices: SINK_MODES,
  },
  spanTokens: {
    key: 'span-tokens',
    value: 'list',
    help: `which tokens a span covers, comma-separated: ${SPAN_RULES.join(', ')} (overlap: any token sharing a character, the target "concept"; majority: tokens with most of their characters in the span, the target "concept@majority"); several are measured side by side`,
    schema: z.array(z.enum(SPAN_RULES as [string, ...string[]])).min(1),
    form: 'strings',
    default: ['overlap'],
    item: { what: 'a span rule', names: SPAN_RULES },
  },
  seed: { key: 'seed', value: 'n', help: 'seed of control-run samples, negative-control choices and resampling', schema: whole(0, 2 ** 32 - 1), form: 'number', default: 1, expect: `be a whole number from 0 to ${2 ** 32 - 1}` },
  controls: { key: 'controls', value: 'n', help: 'control runs of each width per sequence at most (all of them when fewer); a span is judged against the 30 of its class nearest to it from every sequence', schema: whole(1, 100_000), form: 'number', default: 32, expect: 'be a whole number from 1 to 100000' },
  permutations: { key: 'permutations', value: 'n', help: 'relabellings for the structure test\'s p-value (all of them when fewer)', schema: whole(10, 1_000_000), form: 'number', default: 10_000, expect: 'be a whole number from 10 to 1000000' },
  alpha: { key: 'alpha', value: 'p', help: 'a head beats chance when its p-value is below this', schema: z.number().gt(0).lt(1), form: 'number', default: 0.05, expect: 'lie between 0 and 1' },
  chatTemplate: { key: 'chat-template', help: "wrap each sequence in the checkpoints' chat template (tokenizer_config.json); spans keep pointing at their words", schema: z.boolean(), form: 'switch' },
  // More threads than cores only slows onnxruntime down (100000 of them took 16 GB and the machine): refused, everywhere the option is read.
  threads: { key: 'threads', value: 'n', help: `CPU threads for onnxruntime, at most this machine's ${CORES} cores (default: all cores)`, schema: z.number().int().min(1).max(CORES, `must be at most ${CORES}, the cores of this machine`), form: 'number', expect: `be a whole number from 1 to ${CORES}, the cores of this machine (os.availableParallelism())` },
  device: {
    key: 'device',
    value: 'device',
    help: 'execution provider: cpu, or cuda where onnxruntime-node was installed with its CUDA libraries',
    schema: z.enum(DEVICES as [string, ...string[]]),
    form: 'string',
    choices: DEVICES,
  },
  maps: {
    key: 'maps',
    value: 'kind',
    help: 'mean: every measure computed inside the graph, head-averaged maps kept of --map-layers; none: no maps; full: per-head maps on disk (what measure recomputes from)',
    schema: z.enum(MAPS_MODES as [string, ...string[]]),
    form: 'string',
    choices: MAPS_MODES,
  },
  mapLayers: { key: 'map-layers', value: 'list', help: 'layers whose head-averaged maps --maps mean keeps, comma-separated (default: the last)', schema: z.array(whole(0)).min(1), form: 'numbers', expect: 'be layer numbers from 0, comma-separated' },
  pairs: {
    key: 'pairs',
    value: 'list',
    help: 'model pairs AFTER:BEFORE, comma-separated (default: each model against the previous, and the last against the first)',
    // which models a pair names is checked against the run's models (parsePairs)
    schema: z.string().min(1),
    form: 'string',
    expect: 'be pairs AFTER:BEFORE, comma-separated',
  },
  batchSize: { key: 'batch-size', value: 'n', help: 'sequences per forward pass, padded on the right', schema: whole(1), form: 'number', expect: 'be a whole number from 1' },
  maxMapGb: { key: 'max-map-gb', value: 'gb', help: 'with --maps full, refuse a sequence whose full maps exceed this many GiB', schema: z.number().positive(), form: 'number', default: 4, expect: 'be a positive number' },
  maxMemoryGb: {
    key: 'max-memory-gb',
    value: 'gb',
    help: "memory one layer's attention may take in a pass measured in the graph; texts beyond 128 tokens run each layer as a loop over blocks of at most 128 queries (fewer to fit this), so no [heads, T, T] tensor exists",
    schema: z.number().positive(),
    form: 'number',
    default: 2,
    expect: 'be a positive number',
  },
  copies: { key: 'copies', value: 'k', help: 'concept-agnostic copies of the first model (each as large as it on disk, one at a time)', schema: whole(1, 100), form: 'number', default: 4, expect: 'be a whole number from 1 to 100' },
  representations: { key: 'representations', help: 'also capture each layer\'s residual stream at concept, component, control and sampled tokens and measure representation change, CKA and probes (representations.csv)', schema: z.boolean(), form: 'switch' },
  knockout: {
    key: 'knockout',
    help: 'also run attention knockout: per sequence, one pass in which no query after the concept (or a control span) may attend to its tokens, and measure the change in log-likelihood of the tokens after it and in their last residual states (knockout.csv); costs about one plain pass per knocked-out span',
    schema: z.boolean(),
    form: 'switch',
  },
  knockoutLayers: { key: 'knockout-layers', value: 'list', help: 'with --knockout, also knock out in each of these layers alone, comma-separated (each adds a row per span)', schema: z.array(whole(0)).min(1), form: 'numbers', expect: 'be layer numbers from 0, comma-separated' },
  knockoutControls: {
    key: 'knockout-controls',
    value: 'n',
    help: "with --knockout, knock out at most this many control runs of each width per sequence, a seeded sample of --controls' runs (the same for every model), and every negative-control word; each run dropped saves a row per layer set (default: all of them)",
    schema: whole(1, 100_000),
    form: 'number',
    expect: 'be a whole number from 1 to 100000',
  },
  report: { key: 'report', help: 'write the HTML report (OUT/report/index.html)', schema: z.boolean(), form: 'switch' },
} satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;

/** The options of an analysis (what is measured and tested): compare, measure, config files and manifests. */
export const ANALYSIS_OPTIONS: readonly OptionName[] = ['querySets', 'sink', 'spanTokens', 'seed', 'controls', 'permutations', 'alpha'];

/** Zod fields `{ key: schema.optional() }` of some options, for a config file or a manifest. */
export function optionFields(names: readonly OptionName[]): Record<string, z.ZodOptional<z.ZodType>> {
  return Object.fromEntries(names.map((name) => [OPTIONS[name].key, OPTIONS[name].schema.optional()]));
}

/** A command-line argument as the option's value, or the sentence saying why it is not one. */
export function parseOptionArgument(name: OptionName, text: string): { value: unknown } | { problem: string } {
  const spec: OptionSpec = OPTIONS[name];
  if (text.trim() === '') return { problem: `--${spec.key} is empty; it must ${spec.expect ?? 'be given a value'}` };
  const items = text.split(',').map((v) => v.trim());
  const raw = spec.form === 'number' ? Number(text) : spec.form === 'numbers' ? items.map(Number) : spec.form === 'strings' ? items : text;
  const parsed = spec.schema.safeParse(raw);
  if (parsed.success) return { value: parsed.data };
  const unknown = spec.item ? items.find((item) => !spec.item!.names.includes(item)) : undefined;
  if (spec.item && unknown !== undefined) return { problem: `"${unknown}" is not ${spec.item.what}; choose from ${spec.item.names.join(', ')}` };
  return { problem: `--${spec.key} must ${spec.expect ?? 'be valid'}; got ${text}` };
}

/** A value given through the library (not the command line): the option's default when absent, refused in one sentence when out of range. */
export function optionValue<T>(name: OptionName, value: T | undefined): T {
  const spec: OptionSpec = OPTIONS[name];
  const v = value ?? (spec.default as T);
  if (!spec.schema.safeParse(v).success) throw badInput(`--${spec.key} must ${spec.expect ?? 'be valid'}; got ${String(v)}.`);
  return v;
}
