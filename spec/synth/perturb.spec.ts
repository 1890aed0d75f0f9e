import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import ort from 'onnxruntime-node';
import { LegalAttnError } from '../../lib/errors.js';
import { perturbCheckpoint, type PerturbOptions } from '../../lib/synth/perturb.js';
import { synthCheckpoint } from '../../lib/synth/synth-checkpoint.js';
import { decodeModel } from '../../lib/onnx/model.js';
import { widenBfloat16 } from '../../lib/rewrite/widen-bfloat16.js';
import { listFiles, modelDir, temporaryFolder } from '../helpers.js';
import { MAKE_EXPORTS } from '../checkpoint/exports.js';

const run = promisify(execFile);

/** Debian's python3 with onnx and numpy, or undefined (the Python cases are skipped then). */
async function pythonWithOnnx(): Promise<string | undefined> {
  for (const python of [process.env.LEGAL_ATTN_PYTHON, '/usr/bin/python3']) {
    if (python && (await run(python, ['-c', 'import onnx, numpy']).then(() => true, () => false))) return python;
  }
  return undefined;
}

/** Checkpoint folders in the formats Python tools write (make-exports.py variants), from the tiny base. */
async function pythonExports(python: string, variants: string[]): Promise<string> {
  const out = await temporaryFolder('legal-attn-perturb-exports-');
  await run(python, [MAKE_EXPORTS, modelDir('base'), out, '--only', variants.join(',')], { timeout: 120_000 });
  return out;
}

/** Per initializer, as onnx's numpy_helper reads both folders: type codes, rank, sd of the source and of (copy − source). */
const COMPARE = `
import json, sys, onnx, numpy as np
from onnx import numpy_helper
a, b = (onnx.load(d + "/model.onnx") for d in sys.argv[1:3])
onnx.checker.check_model(b)
copy = {t.name: t for t in b.graph.initializer}
stored = {t.name: t.data_location for t in onnx.load(sys.argv[2] + "/model.onnx", load_external_data=False).graph.initializer}
out = {}
for t in a.graph.initializer:
    x = numpy_helper.to_array(t).astype(np.float64)
    y = numpy_helper.to_array(copy[t.name]).astype(np.float64)
    out[t.name] = dict(types=[t.data_type, copy[t.name].data_type], rank=len(t.dims), sd=float(x.std()), diff=float((y - x).std()), external=stored[t.name] == 1)
print(json.dumps(out))
`;
interface Compared {
  types: [number, number];
  rank: number;
  sd: number;
  diff: number;
  external: boolean;
}

/** The float32 initializers of a folder, read straight from model.onnx's raw_data or the external file's bytes. */
async function float32Tensors(dir: string): Promise<Map<string, { dims: number[]; values: Float32Array }>> {
  const graph = decodeModel(await readFile(path.join(dir, 'model.onnx'))).graph!;
  const tensors = new Map<string, { dims: number[]; values: Float32Array }>();
  for (const t of graph.initializer!) {
    if (t.dataType !== 1) continue;
    const entry = (key: string): string | undefined => t.externalData?.find((e) => e.key === key)?.value ?? undefined;
    const location = entry('location');
    const bytes = location ? (await readFile(path.join(dir, location))).subarray(Number(entry('offset') ?? 0), Number(entry('offset') ?? 0) + Number(entry('length'))) : t.rawData!;
    const values = t.floatData?.length ? Float32Array.from(t.floatData) : new Float32Array(Uint8Array.from(bytes).buffer);
    tensors.set(t.name!, { dims: t.dims!.map(Number), values });
  }
  return tensors;
}

const sd = (values: Float32Array | Float64Array): number => {
  let mean = 0;
  for (const v of values) mean += v / values.length;
  let squares = 0;
  for (const v of values) squares += (v - mean) ** 2;
  return Math.sqrt(squares / values.length);
};
const difference = (a: Float32Array, b: Float32Array): Float64Array => Float64Array.from(a, (v, k) => b[k]! - v);
const rms = (values: Float64Array): number => Math.sqrt(values.reduce((s, v) => s + v * v, 0) / values.length);

/** Logits of one 5-token sequence. */
async function logits(dir: string): Promise<Float32Array> {
  // a bfloat16 graph runs on the CPU widened to float32, as legal-attn's sessions run it (a float32 one comes out as it is)
  const graphFile = path.join(dir, 'model.onnx');
  const session = await ort.InferenceSession.create(widenBfloat16(await readFile(graphFile), graphFile), { extra: { session: { model_external_initializers_file_folder_path: dir } } });
  try {
    const ids = new ort.Tensor('int64', BigInt64Array.from([1n, 200n, 300n, 400n, 500n]), [1, 5]);
    const mask = new ort.Tensor('int64', new BigInt64Array(5).fill(1n), [1, 5]);
    const result = await session.run({ input_ids: ids, attention_mask: mask });
    return Float32Array.from(result.logits!.data as Float32Array);
  } finally {
    await session.release();
  }
}

/** Checks that the copy's logits are finite and a little (not much) off the source's. */
async function checkRuns(source: string, copy: string): Promise<void> {
  const [before, after] = [await logits(source), await logits(copy)];
  assert.ok(after.every(Number.isFinite));
  const change = rms(difference(before, after)) / rms(Float64Array.from(before));
  assert.ok(change > 1e-4 && change < 0.25, `relative change of the logits ${change}`);
}

const isBadInput = (pattern: RegExp) => (error: unknown) => error instanceof LegalAttnError && error.code === 'bad-input' && pattern.test(error.message);

describe('perturbCheckpoint', function () {
  this.timeout(300_000);
  const base = modelDir('base');
  let dir: string;
  let source: Map<string, { dims: number[]; values: Float32Array }>;
  const NOISE: PerturbOptions = { noise: { scale: 0.02, seed: 1 } };
  before(async () => {
    dir = await temporaryFolder('legal-attn-perturb-');
    source = await float32Tensors(base);
  });

  it('adds noise of 0.02 × each ≥2-d tensor\'s sd to every one of them, leaves 1-d tensors and every other file as they were, and is seeded', async () => {
    const report = await perturbCheckpoint(base, path.join(dir, 'noise'), NOISE);
    const copy = await float32Tensors(report.out);
    let large = 0;
    for (const [name, { dims, values }] of source) {
      const changed = copy.get(name)!.values;
      if (dims.length < 2) {
        assert.deepEqual(changed, values, name);
        continue;
      }
      large++;
      const [expected, actual] = [0.02 * sd(values), sd(difference(values, changed))];
      assert.ok(Math.abs(actual / expected - 1) < 0.1, `${name}: sd of the change ${actual}, expected ${expected}`);
    }
    assert.equal(report.perturbed, large);
    assert.equal(large, 44);
    assert.deepEqual(report.unchanged.map((u) => u.name).sort(), [...source].filter(([, t]) => t.dims.length < 2).map(([name]) => name).sort());
    assert.match(report.unchanged[0]!.reason, /^1-d/);
    assert.deepEqual(await listFiles(report.out), ['config.json', 'model.onnx', 'model.onnx_data', 'perturbation.json', 'tokenizer.json', 'tokenizer_config.json']);
    for (const file of ['model.onnx', 'config.json', 'tokenizer.json', 'tokenizer_config.json']) assert.ok((await readFile(path.join(base, file))).equals(await readFile(path.join(report.out, file))), file);
    const record = JSON.parse(await readFile(path.join(report.out, 'perturbation.json'), 'utf8')) as { source: string; sd: Record<string, number> };
    assert.equal(record.source, base);
    const embedding = source.get('m.model.embed_tokens.weight')!.values;
    assert.ok(Math.abs(record.sd['m.model.embed_tokens.weight']! / (0.02 * sd(embedding)) - 1) < 1e-6);
    const sizes = await Promise.all((await listFiles(report.out)).map(async (f) => (await stat(path.join(report.out, f))).size));
    assert.equal(report.bytes, sizes.reduce((a, b) => a + b, 0));

    const again = await perturbCheckpoint(base, path.join(dir, 'again'), NOISE);
    const other = await perturbCheckpoint(base, path.join(dir, 'seed-2'), { noise: { scale: 0.02, seed: 2 } });
    const data = (d: string): Promise<Buffer> => readFile(path.join(d, 'model.onnx_data'));
    assert.ok((await data(report.out)).equals(await data(again.out)));
    assert.ok(!(await data(report.out)).equals(await data(other.out)));
  });

  it('writes a copy that onnxruntime loads and runs, its logits a little off the source\'s', async () => {
    await checkRuns(base, path.join(dir, 'noise'));
  });

  it('matches the size of the real difference between two checkpoints, tensor by tensor', async () => {
    const report = await perturbCheckpoint(base, path.join(dir, 'match'), { matchDifference: { other: modelDir('cpt'), seed: 3 } });
    const [cpt, copy] = [await float32Tensors(modelDir('cpt')), await float32Tensors(report.out)];
    let checked = 0;
    for (const [name, { values }] of source) {
      if (values.length < 16_384) continue;
      const [real, ours] = [rms(difference(values, cpt.get(name)!.values)), rms(difference(values, copy.get(name)!.values))];
      assert.ok(real > 0 && Math.abs(ours / real - 1) < 0.1, `${name}: RMS of the change ${ours}, of cpt − base ${real}`);
      checked++;
    }
    assert.ok(checked >= 30, `${checked} tensors checked`);
  });

  it('plants noise on the listed rows of the embedding table alone', async () => {
    const tokens = [7, 100, 4000];
    const report = await perturbCheckpoint(base, path.join(dir, 'plant'), { plant: { tokens, scale: 0.5, seed: 4 } });
    assert.equal(report.perturbed, 1);
    const copy = await float32Tensors(report.out);
    const table = 'm.model.embed_tokens.weight';
    for (const [name, { values }] of source) if (name !== table) assert.deepEqual(copy.get(name)!.values, values, name);
    const [before, after] = [source.get(table)!.values, copy.get(table)!.values];
    const width = 128;
    const rowChange = (row: number): Float64Array => difference(before.subarray(row * width, (row + 1) * width), after.subarray(row * width, (row + 1) * width));
    for (let row = 0; row < 4096; row++) {
      const changed = rowChange(row).filter((v) => v !== 0).length;
      assert.equal(changed > width / 2, tokens.includes(row), `row ${row}: ${changed} values changed`);
    }
    const planted = Float64Array.from(tokens.flatMap((t) => [...rowChange(t)]));
    assert.ok(Math.abs(sd(planted) / (0.5 * sd(before)) - 1) < 0.1);
  });

  it('perturbs a float16 checkpoint in float16, and an inline one by rewriting model.onnx', async function () {
    const python = await pythonWithOnnx();
    if (!python) this.skip();
    const exports = await pythonExports(python, ['fp16', 'bf16', 'resaved-inline']);
    for (const variant of ['fp16', 'bf16', 'resaved-inline']) {
      const from = path.join(exports, variant);
      const report = await perturbCheckpoint(from, path.join(dir, variant), NOISE);
      assert.equal(report.perturbed, 44, variant);
      const compared = JSON.parse((await run(python, ['-c', COMPARE, from, report.out])).stdout) as Record<string, Compared>;
      for (const [name, t] of Object.entries(compared)) {
        assert.equal(t.types[1], t.types[0], `${variant} ${name} keeps its type`);
        assert.equal(t.types[0], { fp16: 10, bf16: 16, 'resaved-inline': 1 }[variant], `${variant} ${name}`);
        if (t.rank < 2) assert.equal(t.diff, 0, `${variant} ${name}`);
        else assert.ok(Math.abs(t.diff / (0.02 * t.sd) - 1) < 0.1, `${variant} ${name}: sd of the change ${t.diff}, expected ${0.02 * t.sd}`);
        assert.equal(t.external, variant !== 'resaved-inline' && t.rank >= 2);
      }
      await checkRuns(from, report.out);
    }
    // inline: only the initializers' data changed
    const a = decodeModel(await readFile(path.join(exports, 'resaved-inline', 'model.onnx'))).graph!;
    const b = decodeModel(await readFile(path.join(dir, 'resaved-inline', 'model.onnx'))).graph!;
    assert.deepEqual(JSON.stringify(b.node), JSON.stringify(a.node));
    assert.deepEqual(b.initializer!.map((t) => [t.name, t.dims!.map(Number), t.dataType]), a.initializer!.map((t) => [t.name, t.dims!.map(Number), t.dataType]));
  });

  it('copies integer and quantized tensors unchanged, saying why', async function () {
    const python = await pythonWithOnnx();
    if (!python) this.skip();
    const exports = await pythonExports(python, ['int8-dynamic']);
    const report = await perturbCheckpoint(path.join(exports, 'int8-dynamic'), path.join(dir, 'int8'), NOISE);
    assert.equal(report.perturbed, 0);
    const reasons = new Map(report.unchanged.map((u) => [u.name, u.reason]));
    assert.match(reasons.get('m.model.embed_tokens.weight_quantized')!, /^uint8 \(integer or quantized\)/);
    assert.match(reasons.get('onnx::MatMul_1716_quantized')!, /^int8 \(integer or quantized\)/);
    assert.ok((await readFile(path.join(exports, 'int8-dynamic', 'model.onnx'))).equals(await readFile(path.join(report.out, 'model.onnx'))));
  });

  it('refuses what it cannot do, in one sentence naming the folder or tensor, and writes nothing', async () => {
    const out = path.join(dir, 'refused');
    await assert.rejects(perturbCheckpoint(path.join(dir, 'missing'), out, NOISE), isBadInput(/missing: no such checkpoint folder/));
    await assert.rejects(perturbCheckpoint(base, out, { ...NOISE, matchDifference: { other: modelDir('cpt'), seed: 1 } }), isBadInput(/not both/));
    await assert.rejects(perturbCheckpoint(base, out, {}), isBadInput(/nothing to do/));
    await assert.rejects(perturbCheckpoint(base, out, { plant: { tokens: [4096], scale: 1, seed: 1 } }), isBadInput(/token id 4096 is outside the embedding table .*4096 rows/));
    const synth = await synthCheckpoint(path.join(dir, 'synth'), { layers: 1, heads: 2, kvHeads: 1, hidden: 16, vocab: 4096 });
    await assert.rejects(perturbCheckpoint(base, out, { matchDifference: { other: synth, seed: 1 } }), isBadInput(/synth\/model\.onnx: has no initializer m\.model\.embed_tokens\.weight, which .* has; matchDifference needs/));
    await assert.rejects(perturbCheckpoint(base, path.join(base, 'copy'), NOISE), isBadInput(/cannot be written in or over the checkpoint folder/));
    const foreign = path.join(dir, 'foreign');
    await mkdir(foreign);
    await writeFile(path.join(foreign, 'notes.txt'), 'mine');
    await assert.rejects(perturbCheckpoint(base, foreign, NOISE), isBadInput(/holds files that are not a perturbed checkpoint/));
    assert.deepEqual(await listFiles(out), []);
    assert.deepEqual(await listFiles(foreign), ['notes.txt']);
  });
});
