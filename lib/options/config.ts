import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { badInput } from '../errors.js';
import { parseYamlFile } from '../io/yaml-file.js';
import { ANALYSIS_OPTIONS, optionFields, type OptionName } from './option-table.js';

/** The declared options a config file may set, as defaults of the flags of the same name. */
export const CONFIG_FILE_OPTIONS: readonly OptionName[] = [...ANALYSIS_OPTIONS, 'chatTemplate', 'threads', 'device', 'maps', 'knockout', 'knockoutLayers', 'knockoutControls'];

const configSchema = z
  .object({
    cache: z.string().min(1).optional(),
    models: z.record(z.string(), z.string().min(1)).optional(),
    concepts: z.string().min(1).optional(),
    ...optionFields(CONFIG_FILE_OPTIONS),
  })
  .strict();

/** Defaults for the command line, from `legal-attn.config.yaml` (paths resolved against its folder); option values by their key. */
export type Config = { cache?: string; models?: Record<string, string>; concepts?: string; file?: string } & Record<string, unknown>;

export const CONFIG_FILE = 'legal-attn.config.yaml';

/** Reads `--config FILE`, else `./legal-attn.config.yaml` when there is one, else no defaults. */
export async function loadConfig(explicit?: string): Promise<Config> {
  const file = explicit ?? CONFIG_FILE;
  const source = await readFile(file, 'utf8').catch(() => undefined);
  if (source === undefined) {
    if (explicit) throw badInput(`${explicit}: no such config file; pass --config a legal-attn.config.yaml.`);
    return {};
  }
  const { data } = parseYamlFile(source, file, configSchema, 'see "Configuration" in the README.');
  const dir = path.dirname(path.resolve(file));
  const config: Config = { ...(data as Config), file: path.resolve(file) };
  if (data.cache) config.cache = path.resolve(dir, data.cache);
  if (data.concepts) config.concepts = path.resolve(dir, data.concepts);
  if (data.models) config.models = Object.fromEntries(Object.entries(data.models).map(([name, dir2]) => [name, path.resolve(dir, dir2)]));
  return config;
}
