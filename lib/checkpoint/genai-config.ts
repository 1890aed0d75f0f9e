import { access } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { badInput } from '../errors.js';
import { readJsonFile } from '../io/json-file.js';
import type { ModelShape } from './model-shape.js';

/** What each graph input carries, whatever the export named it. */
export type InputRole = 'ids' | 'mask' | 'positions' | 'tokenTypes' | 'cachePosition' | 'useCacheBranch' | 'past';

/** Input names a folder declares (onnxruntime-genai's `genai_config.json`), `%d` standing for a layer. */
export type InputNames = Partial<Record<'input_ids' | 'attention_mask' | 'position_ids' | 'past_key_names' | 'past_value_names' | 'past_names', string>>;

const count = z.number().int().positive().optional();
// Only what legal-attn reads; onnxruntime-genai writes much more (search options, session options, providers).
const genaiSchema = z.object({
  model: z.object({
    type: z.string().optional(),
    vocab_size: count,
    context_length: count,
    decoder: z.object({
      filename: z.string().min(1).optional(),
      head_size: count,
      hidden_size: count,
      num_attention_heads: count,
      num_hidden_layers: count,
      num_key_value_heads: count,
      inputs: z.record(z.string(), z.string()).optional(),
    }),
  }),
});

/** A folder as onnxruntime-genai's model builder writes it: the decoder's file, its inputs' names and the model's shape. */
export interface GenaiFolder {
  file: string;
  /** The decoder graph, named by `model.decoder.filename`. */
  decoder?: string;
  inputNames: InputNames;
  shape: ModelShape;
}

export const GENAI_CONFIG = 'genai_config.json';

/** Reads `genai_config.json` where the folder has one; undefined where it has none. */
export async function readGenaiFolder(dir: string): Promise<GenaiFolder | undefined> {
  const file = path.join(dir, GENAI_CONFIG);
  if (!(await access(file).then(() => true, () => false))) return undefined;
  const { model } = await readJsonFile(file, genaiSchema, { missing: '', again: 'fix it, or remove it to open model.onnx by its conventional names.' });
  const { decoder } = model;
  if (decoder.filename !== undefined && (path.isAbsolute(decoder.filename) || path.relative(dir, path.resolve(dir, decoder.filename)).startsWith('..'))) {
    throw badInput(`${file}: model.decoder.filename ${decoder.filename} is outside the folder; name the decoder graph by its file name beside ${GENAI_CONFIG}.`);
  }
  const heads = decoder.num_attention_heads;
  const shape: ModelShape = {
    ...(model.type ? { modelType: model.type } : {}),
    ...(decoder.num_hidden_layers ? { layers: decoder.num_hidden_layers } : {}),
    ...(heads ? { heads } : {}),
    ...(decoder.num_key_value_heads ?? heads ? { kvHeads: decoder.num_key_value_heads ?? heads } : {}),
    ...(decoder.hidden_size ? { hiddenSize: decoder.hidden_size } : {}),
    ...(decoder.head_size ? { headSize: decoder.head_size } : {}),
    ...(model.context_length ? { maxPositions: model.context_length } : {}),
    ...(model.vocab_size ? { vocabSize: model.vocab_size } : {}),
  };
  return { file, ...(decoder.filename ? { decoder: decoder.filename } : {}), inputNames: decoder.inputs ?? {}, shape };
}

/** The decoder graph's file name in a checkpoint folder: the one genai_config.json names, else model.onnx. */
export const graphFileName = async (dir: string): Promise<string> => (await readGenaiFolder(dir))?.decoder ?? 'model.onnx';

const CONVENTIONS: ReadonlyArray<[RegExp, InputRole]> = [
  [/^input_ids$/, 'ids'],
  [/^attention_mask$/, 'mask'],
  [/^position_ids$/, 'positions'],
  [/^token_type_ids$/, 'tokenTypes'],
  [/^cache_position$/, 'cachePosition'],
  [/^use_cache_branch$/, 'useCacheBranch'],
  // optimum's past_key_values.N.key, older exports' past.N.key, onnxruntime's optimizer's past_N ([2, batch, heads, past, d])
  [/^past_key_values\.\d+\.(key|value)$|^past\.\d+\.(key|value)$|^past_\d+$/, 'past'],
];

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const pattern = (template: string): RegExp => new RegExp(`^${template.split('%d').map(escape).join('\\d+')}$`);

/** The role of a graph input: by the names the folder declares, else by the names exporters give. */
export function inputRole(name: string, declared: InputNames = {}): InputRole | undefined {
  const byDeclared: Array<[string | undefined, InputRole]> = [
    [declared.input_ids, 'ids'],
    [declared.attention_mask, 'mask'],
    [declared.position_ids, 'positions'],
    [declared.past_key_names, 'past'],
    [declared.past_value_names, 'past'],
    [declared.past_names, 'past'],
  ];
  for (const [template, role] of byDeclared) if (template && pattern(template).test(name)) return role;
  return CONVENTIONS.find(([re]) => re.test(name))?.[1];
}
