import type { Device } from '../runtime/session.js';
import type { AnalysisOptions } from './analysis-options.js';
import { ANALYSIS_OPTIONS, type OptionName } from './option-table.js';
import { type MapsMode } from '../measure/maps-mode.js';

/** How one comparison is analysed and run, as a library caller gives it: what every command, config file and manifest run is turned into. */
export interface RunOptions extends AnalysisOptions {
  /** Wrap each sequence in the checkpoints' chat template. */
  chatTemplate?: boolean;
  batchSize?: number;
  threads?: number;
  device?: Device;
  /**
   * `mean` (default): every measure computed inside the graph, head-averaged maps kept
   * of `mapLayers` for the report; `none`: no maps; `full`: per-head maps traced to
   * disk and measured from there (what `measure` can recompute without the models).
   */
  maps?: MapsMode;
  /** Layers whose head-averaged maps are kept with `--maps mean` (default: the last). */
  mapLayers?: number[];
  /** Refuse `--maps full` for a sequence whose maps would be larger than this. */
  maxMapBytes?: number;
  /** Memory one layer's attention may take in a pass; beyond it, attention runs in blocks of queries (default 2 GiB). */
  maxMemoryBytes?: number;
  /** Capture residual states and measure representations beside attention (default true). */
  representations?: boolean;
  /** Run attention knockout passes and measure what the concept's keys are needed for (default false). */
  knockout?: boolean;
  /** Layers knocked out alone, besides all layers together. */
  knockoutLayers?: number[];
  /** Control runs of each width knocked out per sequence at most, a seeded sample of the plan's (default: all of them, as --controls keeps). */
  knockoutControls?: number;
}

/** The declared options a run takes, by name: the analysis, and how it runs. */
export const RUN_OPTIONS: readonly OptionName[] = [...ANALYSIS_OPTIONS, 'pairs', 'chatTemplate', 'batchSize', 'threads', 'device', 'maps', 'mapLayers', 'maxMapGb', 'maxMemoryGb', 'representations', 'knockout', 'knockoutLayers', 'knockoutControls'];

const GIB = 1024 ** 3;

/**
 * Option values by name (as the command line, a config file or a manifest run gives
 * them) as the library's run options: the one translation, where GiB become bytes. A
 * value that is absent stays absent, so the library's defaults apply.
 */
export function runOptionsOf(values: Partial<Record<OptionName, unknown>>): RunOptions {
  const options: Record<string, unknown> = {};
  for (const name of RUN_OPTIONS) {
    const value = values[name];
    if (value === undefined) continue;
    if (name === 'maxMapGb') options.maxMapBytes = (value as number) * GIB;
    else if (name === 'maxMemoryGb') options.maxMemoryBytes = (value as number) * GIB;
    else options[name] = value;
  }
  return options;
}

export interface NamedModel {
  name: string;
  dir: string;
}

export interface CompareRequest extends RunOptions {
  models: NamedModel[];
  concepts: string;
  out: string;
  /** Replace a non-empty `out` that legal-attn did not write. */
  force?: boolean;
  cacheDir?: string;
}
