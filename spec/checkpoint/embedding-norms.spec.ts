import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { LegalAttnError } from '../../lib/errors.js';
import { embeddingRowNorms } from '../../lib/checkpoint/embedding-norms.js';
import { decodeModel } from '../../lib/onnx/model.js';
import { modelDir, temporaryFolder } from '../helpers.js';
import { MAKE_EXPORTS } from './exports.js';

const run = promisify(execFile);
const { onnx: schema } = onnxProto;
const ROWS = [0, 100, 4095];

/** Norms of some rows of the tiny base's float32 embedding table, from its bytes in model.onnx_data. */
async function baseNorms(): Promise<number[]> {
  const graph = decodeModel(await readFile(path.join(modelDir('base'), 'model.onnx'))).graph!;
  const table = graph.initializer!.find((t) => t.name === 'm.model.embed_tokens.weight')!;
  const offset = Number(table.externalData!.find((e) => e.key === 'offset')!.value);
  const bytes = await readFile(path.join(modelDir('base'), 'model.onnx_data'));
  return ROWS.map((row) => {
    const values = new Float32Array(Uint8Array.from(bytes.subarray(offset + row * 512, offset + (row + 1) * 512)).buffer);
    return Math.sqrt(values.reduce((s, v) => s + v * v, 0));
  });
}

/** Largest |a/b − 1|. */
const relative = (a: ArrayLike<number>, b: ArrayLike<number>): number => Math.max(...Array.from(b, (v, k) => Math.abs(a[k]! / v - 1)));

/** A one-Gather graph reading its table through `nodes` (which end in `table_out`), written to a fresh folder. */
async function tinyGraph(initializers: onnx.ITensorProto[], nodes: onnx.INodeProto[]): Promise<string> {
  const file = path.join(await temporaryFolder('legal-attn-norms-'), 'model.onnx');
  const lookup = nodes.some((n) => n.opType === 'GatherBlockQuantized') ? [] : [{ opType: 'Gather', input: ['table_out', 'input_ids'], output: ['embedded'] }];
  const graph = {
    name: 'g',
    node: [...nodes, ...lookup],
    initializer: initializers,
    input: [{ name: 'input_ids', type: { tensorType: { elemType: 7, shape: { dim: [{ dimParam: 'b' }, { dimParam: 's' }] } } } }],
    output: [{ name: 'embedded', type: { tensorType: { elemType: 1 } } }],
  };
  await writeFile(file, schema.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph }).finish());
  return file;
}

describe('embeddingRowNorms', function () {
  this.timeout(120_000);
  let expected: number[];
  before(async () => {
    expected = await baseNorms();
  });

  it('reads the requested rows of a float32 table from external data', async () => {
    const norms = await embeddingRowNorms(path.join(modelDir('base'), 'model.onnx'), [...ROWS, 100]);
    assert.ok(norms instanceof Float64Array);
    assert.ok(relative(norms, [...expected, expected[1]!]) < 1e-12, `${Array.from(norms).join(', ')} vs ${expected.join(', ')}`);
  });

  it('reads inline, float16, bfloat16 and uint8-quantized tables as Python tools write them', async function () {
    const python = (await run('/usr/bin/python3', ['-c', 'import onnx, numpy']).then(() => true, () => false)) ? '/usr/bin/python3' : undefined;
    if (!python) this.skip();
    const out = await temporaryFolder('legal-attn-norms-exports-');
    await run(python, [MAKE_EXPORTS, modelDir('base'), out, '--only', 'resaved-inline,fp16,bf16,int8-dynamic'], { timeout: 120_000 });
    const norms = async (variant: string): Promise<Float64Array> => (await embeddingRowNorms(path.join(out, variant, 'model.onnx'), ROWS)) as Float64Array;
    assert.ok(relative(await norms('resaved-inline'), expected) < 1e-12);
    assert.ok(relative(await norms('fp16'), expected) < 1e-3);
    assert.ok(relative(await norms('bf16'), expected) < 5e-3);
    // uint8 table, Gather then DequantizeLinear per tensor: (q − zero point) × scale, from the initializers as stored
    const graph = decodeModel(await readFile(path.join(out, 'int8-dynamic', 'model.onnx'))).graph!;
    const named = (name: string): onnx.ITensorProto => graph.initializer!.find((t) => t.name === `m.model.embed_tokens.weight${name}`)!;
    const [q, scale, zero] = [named('_quantized').rawData!, named('_scale').floatData![0]!, named('_zero_point').int32Data![0]!];
    const dequantized = ROWS.map((row) => Math.sqrt(Array.from(q.subarray(row * 128, (row + 1) * 128)).reduce((s, v) => s + ((v - zero) * scale) ** 2, 0)));
    assert.ok(relative(await norms('int8-dynamic'), dequantized) < 1e-6);
    assert.ok(relative(dequantized, expected) < 1e-2);
  });

  it('reads an int8 table dequantized per row or per column before its lookup, and a float16 one in int32_data', async () => {
    const table = { name: 'q', dims: [3, 2], dataType: 3, rawData: Uint8Array.from([1, -2, 3, 4, -5, 6].map((v) => v & 0xff)) };
    const perRow = await tinyGraph(
      [table, { name: 's', dims: [3], dataType: 1, floatData: [0.5, 2, 0.25] }, { name: 'z', dims: [3], dataType: 3, int32Data: [1, 0, -1] }],
      [{ opType: 'DequantizeLinear', input: ['q', 's', 'z'], output: ['table_out'], attribute: [{ name: 'axis', i: 0, type: 2 }] }],
    );
    // rows: (0, −3)·0.5, (3, 4)·2, (−4, 7)·0.25
    assert.ok(relative((await embeddingRowNorms(perRow, [2, 0, 1])) as Float64Array, [Math.hypot(-1, 1.75), 1.5, 10]) < 1e-12);
    const perColumn = await tinyGraph([table, { name: 's', dims: [2], dataType: 1, floatData: [1, 0.5] }], [{ opType: 'DequantizeLinear', input: ['q', 's'], output: ['table_out'] }]);
    assert.ok(relative((await embeddingRowNorms(perColumn, [1])) as Float64Array, [Math.sqrt(13)]) < 1e-12);
    // float16 bit patterns of 1.5, −2, 0.25, 0 as Python's make_tensor stores them
    const half = await tinyGraph([{ name: 'h', dims: [2, 2], dataType: 10, int32Data: [0x3e00, 0xc000, 0x3400, 0] }], [{ opType: 'Identity', input: ['h'], output: ['table_out'] }]);
    assert.equal(await embeddingRowNorms(half, [0]), 'the embedding table is computed (by Identity), not stored as an initializer; not read');
    const direct = await tinyGraph([{ name: 'table_out', dims: [2, 2], dataType: 10, int32Data: [0x3e00, 0xc000, 0x3400, 0] }], []);
    assert.deepEqual(Array.from((await embeddingRowNorms(direct, [0, 1])) as Float64Array), [2.5, 0.25]);
  });

  it('says why it does not read other forms, and refuses bad ids and missing files', async () => {
    const blocks = await tinyGraph(
      [{ name: 'w', dims: [4, 16], dataType: 2, rawData: new Uint8Array(64) }, { name: 's', dims: [4, 1], dataType: 1, floatData: [1, 1, 1, 1] }],
      [{ opType: 'GatherBlockQuantized', domain: 'com.microsoft', input: ['w', 'input_ids', 's'], output: ['embedded'], attribute: [{ name: 'block_size', i: 32, type: 2 }] }],
    );
    assert.equal(await embeddingRowNorms(blocks, [0]), 'the embedding table is a GatherBlockQuantized of 4-bit blocks (block size 32); not read');
    const blocked = await tinyGraph(
      [{ name: 'q', dims: [2, 64], dataType: 3, rawData: new Uint8Array(128) }, { name: 's', dims: [2, 2], dataType: 1, floatData: [1, 1, 1, 1] }],
      [{ opType: 'DequantizeLinear', input: ['q', 's'], output: ['table_out'], attribute: [{ name: 'block_size', i: 32, type: 2 }] }],
    );
    assert.equal(await embeddingRowNorms(blocked, [0]), 'the embedding table is dequantized in blocks of 32; not read');
    const base = path.join(modelDir('base'), 'model.onnx');
    await assert.rejects(embeddingRowNorms(base, [4096]), (e: unknown) => e instanceof LegalAttnError && /token id 4096 is outside the embedding table m\.model\.embed_tokens\.weight .*\(4096 rows\)/.test(e.message));
    await assert.rejects(embeddingRowNorms('/nonexistent/model.onnx', [0]), (e: unknown) => e instanceof LegalAttnError && e.message.startsWith('/nonexistent/model.onnx: cannot read this model (ENOENT)'));
  });
});
