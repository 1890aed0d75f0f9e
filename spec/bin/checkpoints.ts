import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { modelDir, temporaryFolder } from '../helpers.js';

const { onnx } = onnxProto;

/** A copy of tiny-legal-base with some of its files left out or changed, for bad-input cases. */
export async function alteredCheckpoint(options: {
  omit?: string[];
  config?: Record<string, unknown>;
  tokenizer?: (json: { added_tokens: unknown[] }) => void;
  graph?: Uint8Array;
}): Promise<string> {
  const dir = path.join(await temporaryFolder(), 'checkpoint');
  await mkdir(dir);
  for (const name of ['model.onnx', 'model.onnx_data', 'tokenizer.json', 'tokenizer_config.json', 'config.json']) {
    if (!options.omit?.includes(name)) await copyFile(path.join(modelDir('base'), name), path.join(dir, name));
  }
  if (options.config) {
    const config = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ ...config, ...options.config }));
  }
  if (options.tokenizer) {
    const json = JSON.parse(await readFile(path.join(dir, 'tokenizer.json'), 'utf8')) as { added_tokens: unknown[] };
    options.tokenizer(json);
    await writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(json));
  }
  if (options.graph) await writeFile(path.join(dir, 'model.onnx'), options.graph);
  return dir;
}

/** A graph whose attention is one com.microsoft Attention node with rotary made inside the kernel, from tables legal-attn cannot read. */
export const fusedAttentionGraph = (): Uint8Array =>
  onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
    graph: {
      name: 'fused',
      input: [{ name: 'input_ids' }, { name: 'attention_mask' }],
      output: [{ name: 'logits' }],
      node: [{ opType: 'Attention', domain: 'com.microsoft', name: '/model/layers.0/attn/Attention', input: ['hidden', 'qkv_weight', 'qkv_bias'], output: ['logits'], attribute: [{ name: 'do_rotary', i: 1, type: 2 }] }],
    },
  }).finish();
