import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { badInput } from './errors.js';
import { parseYamlFile } from './io/yaml-file.js';
import { SINK_MODES } from './measure/attention-share.js';
import { QUERY_SETS } from './measure/query-set.js';

const configSchema = z
  .object({
    cache: z.string().min(1).optional(),
    threads: z.number().int().min(1).optional(),
    models: z.record(z.string(), z.string().min(1)).optional(),
    concepts: z.string().min(1).optional(),
    'query-sets': z.array(z.enum(QUERY_SETS as [string, ...string[]])).min(1).optional(),
    sink: z.enum(SINK_MODES as [string, ...string[]]).optional(),
    seed: z.number().int().min(0).optional(),
    controls: z.number().int().min(1).optional(),
    permutations: z.number().int().min(10).optional(),
    alpha: z.number().gt(0).lt(1).optional(),
    'chat-template': z.boolean().optional(),
  })
  .strict();

/** Defaults for the command line, from `legal-attn.config.yaml` (paths resolved against its folder). */
export type Config = z.infer<typeof configSchema> & { file?: string };

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
  const config: Config = { ...data, file: path.resolve(file) };
  if (data.cache) config.cache = path.resolve(dir, data.cache);
  if (data.concepts) config.concepts = path.resolve(dir, data.concepts);
  if (data.models) config.models = Object.fromEntries(Object.entries(data.models).map(([name, dir2]) => [name, path.resolve(dir, dir2)]));
  return config;
}
