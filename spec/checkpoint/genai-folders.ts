import { copyFile, cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Checkpoint } from '../../lib/checkpoint/checkpoint.js';
import { readNpy } from '../../lib/io/npy.js';
import { readInitializer, toFloat32 } from '../../lib/onnx/initializers.js';
import { decodeModel } from '../../lib/onnx/model.js';
import { FLOAT16 } from '../../lib/onnx/proto.js';
import { editGraph } from '../../lib/onnx/wire.js';
import { padBatch } from '../../lib/runtime/feeds.js';
import { createSession, forward } from '../../lib/runtime/session.js';
import { modelDir, ROOT, temporaryFolder } from '../helpers.js';

/** Folders written by onnxruntime's own tools, kept as they were written (see SOURCE.md beside them). */
export const GENAI_FIXTURES = path.join(ROOT, 'spec', 'fixtures', 'onnxruntime-genai');
const BYTE_LEVEL = path.join(ROOT, 'spec', 'fixtures', 'tokenizers', 'bytelevel-bpe', 'tokenizer.json.gz');

interface ByteLevelTokenizer {
  model: { vocab: Record<string, number>; merges: Array<string | [string, string]> };
  added_tokens: Array<{ id: number }>;
}

/**
 * GPT-2's own tokenizer cut to its first `size` ids, the vocabulary of the tiny test
 * model (1,000 rows): the 256 bytes and the merges that make the tokens kept, in order.
 */
export async function cutGpt2Tokenizer(size: number): Promise<string> {
  const tokenizer = JSON.parse(gunzipSync(await readFile(BYTE_LEVEL)).toString('utf8')) as ByteLevelTokenizer;
  const vocab = Object.fromEntries(Object.entries(tokenizer.model.vocab).filter(([, id]) => id < size));
  tokenizer.model.merges = tokenizer.model.merges.filter((merge) => {
    const [a = '', b = ''] = typeof merge === 'string' ? merge.split(' ') : merge;
    return a in vocab && b in vocab && a + b in vocab;
  });
  tokenizer.model.vocab = vocab;
  tokenizer.added_tokens = tokenizer.added_tokens.filter((t) => t.id < size);
  return JSON.stringify(tokenizer);
}

/**
 * A fixture folder as its tool wrote it, with a tokenizer.json beside it: the tiny family's
 * for the Llama model (its 4,096 ids fit the 32,000 rows; the folder's own is the LLaMA
 * tokenizer, not redistributable here), GPT-2's cut to 1,000 ids for the GPT-2 models.
 */
export async function genaiFolder(name: 'builder-llama-fp16-mha' | 'optimizer-gpt2-fp32' | 'optimizer-gpt2-fp16'): Promise<string> {
  const dir = path.join(await temporaryFolder(), name);
  await cp(path.join(GENAI_FIXTURES, name), dir, { recursive: true });
  if (name.startsWith('builder')) await copyFile(path.join(modelDir('base'), 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
  else await writeFile(path.join(dir, 'tokenizer.json'), await cutGpt2Tokenizer(1000));
  return dir;
}

/** Some tensors of the graph as it was written, after one pass over `ids` (float16 widened). */
export async function graphTensors(checkpoint: Checkpoint, ids: BigInt64Array, names: string[]): Promise<Map<string, { data: Float32Array; dims: number[] }>> {
  const graph = editGraph(await readFile(checkpoint.graphFile), { outputs: names.map((name) => ({ name })) });
  const session = await createSession(graph, checkpoint, {}, 'the graph with the kernel tensors as outputs');
  try {
    const outputs = await forward(session, checkpoint, padBatch([ids], 0n), {}, names);
    return new Map(
      names.map((name) => {
        const t = outputs[name]!;
        const data = t.type === 'float16' ? toFloat32(new Uint8Array((t.data as Uint16Array).buffer), FLOAT16) : Float32Array.from(t.data as Float32Array);
        return [name, { data, dims: [...t.dims] }];
      }),
    );
  } finally {
    await session.release();
  }
}

/** A float initializer of the checkpoint's graph, widened to float32. */
export async function initializerValues(checkpoint: Checkpoint, name: string): Promise<Float32Array> {
  const tensor = decodeModel(await readFile(checkpoint.graphFile)).graph?.initializer?.find((t) => t.name === name);
  if (!tensor) throw new Error(`no initializer ${name}`);
  return toFloat32(await readInitializer(tensor, checkpoint.dir), tensor.dataType ?? 0);
}

/**
 * The kernel's own output, `[T, heads·d]` for one sequence, against Σ_j P[h, i, j] · V[j, h]
 * from legal-attn's P (the trace's `[layers, heads, T, T]` maps): the largest difference.
 */
export function kernelDifference(p: Float32Array, layer: number, heads: number, T: number, values: Float32Array, kernel: Float32Array): number {
  const width = values.length / T;
  const d = width / heads;
  let largest = 0;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < T; i++) {
      for (let c = 0; c < d; c++) {
        let sum = 0;
        for (let j = 0; j < T; j++) sum += p[((layer * heads + h) * T + i) * T + j]! * values[j * width + h * d + c]!;
        largest = Math.max(largest, Math.abs(sum - kernel[i * width + h * d + c]!));
      }
    }
  }
  return largest;
}

export const tracedMaps = (out: string): Promise<{ data: Float32Array; dims: number[] }> => readNpy(path.join(out, 'attentions.npy'));
