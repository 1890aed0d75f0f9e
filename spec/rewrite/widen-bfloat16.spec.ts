import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { openCheckpoint } from '../../lib/checkpoint/checkpoint.js';
import { decodeModel } from '../../lib/onnx/model.js';
import { BFLOAT16, EXTERNAL_DATA_LOCATION, FLOAT, INT64, schema, type AttributeProto, type GraphProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../../lib/onnx/proto.js';
import { reduceAttentionInGraph } from '../../lib/rewrite/reduce-graph.js';
import { keptName, widenBfloat16 } from '../../lib/rewrite/widen-bfloat16.js';
import { modelDir, temporaryFolder } from '../helpers.js';
import { exportsOrSkip } from '../checkpoint/exports.js';

type TypeProto = NonNullable<ValueInfoProto['type']>;
const DTYPE = /^(to|.*dtype)$/i;

const hasBfloat16 = (type: TypeProto | null | undefined): boolean =>
  !!type &&
  (type.tensorType?.elemType === BFLOAT16 ||
    type.sparseTensorType?.elemType === BFLOAT16 ||
    hasBfloat16(type.sequenceType?.elemType) ||
    hasBfloat16(type.optionalType?.elemType) ||
    hasBfloat16(type.mapType?.valueType));

/**
 * Every place a graph, its subgraphs included, still has bfloat16, but data that only
 * Casts to float32 read (an initializer, or a Constant's external value), which
 * onnxruntime folds into float32 weights when the session is created.
 */
function bfloat16Left(graph: GraphProto, where = 'graph'): string[] {
  const left: string[] = [];
  const nodes = graph.node ?? [];
  const castOnly = (name: string): boolean => {
    const readers = nodes.filter((n) => n.input?.includes(name));
    return readers.length > 0 && readers.every((n) => n.opType === 'Cast' && Number(n.attribute?.find((a) => a.name === 'to')?.i) === FLOAT);
  };
  for (const t of graph.initializer ?? []) if (t.dataType === BFLOAT16 && !castOnly(t.name ?? '')) left.push(`${where}: initializer ${t.name}`);
  for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])]) if (hasBfloat16(v.type)) left.push(`${where}: type of ${v.name}`);
  for (const node of nodes) {
    for (const a of node.attribute ?? []) {
      const at = `${where}: ${node.opType} ${a.name}`;
      if (DTYPE.test(a.name ?? '') && Number(a.i) === BFLOAT16) left.push(at);
      const kept = (t: TensorProto): boolean => node.opType === 'Constant' && t.dataLocation === EXTERNAL_DATA_LOCATION && castOnly(node.output?.[0] ?? '');
      for (const t of [a.t, ...(a.tensors ?? [])]) if (t?.dataType === BFLOAT16 && !kept(t)) left.push(`${at} tensor`);
      for (const g of [a.g, ...(a.graphs ?? [])]) if (g) left.push(...bfloat16Left(g, `${where} > ${node.opType}`));
    }
  }
  return left;
}

const count = (places: string[], pattern: RegExp): number => places.filter((p) => pattern.test(p)).length;

// A small graph with bfloat16 in every place a graph can hold it, and the float32 values it computes.
const INT = schema.AttributeProto.AttributeType.INT;
const TENSOR = schema.AttributeProto.AttributeType.TENSOR;
const GRAPH = schema.AttributeProto.AttributeType.GRAPH;
const raw = (bits: number[]): Uint8Array => new Uint8Array(Uint16Array.from(bits).buffer);
// bfloat16 bit patterns: 0.5, 1, 1.5, 2, 3, -2.25
const [HALF, ONE, ONE_AND_HALF, TWO, THREE, MINUS_2_25] = [0x3f00, 0x3f80, 0x3fc0, 0x4000, 0x4040, 0xc010];
const tensorOf = (elemType: number, dims: number[]): TypeProto => ({ tensorType: { elemType, shape: { dim: dims.map((dimValue) => ({ dimValue })) } } });
const info = (name: string, type: TypeProto): ValueInfoProto => ({ name, type });
const node = (opType: string, input: string[], output: string, attribute: AttributeProto[] = []): NodeProto => ({ opType, input, output: [output], name: output, attribute });
const constant = (output: string, t: TensorProto): NodeProto => node('Constant', [], output, [{ name: 'value', t, type: TENSOR }]);

function everyPlaceModel(): Uint8Array {
  const then: GraphProto = { name: 'then', initializer: [{ name: 'k', dims: [2], dataType: BFLOAT16, rawData: raw([TWO, TWO]) }], node: [node('Mul', ['s3', 'k'], 'doubled')], output: [info('doubled', tensorOf(BFLOAT16, [2]))] };
  const otherwise: GraphProto = { name: 'else', node: [node('Identity', ['s3'], 'same')], output: [info('same', tensorOf(BFLOAT16, [2]))] };
  const external: TensorProto = { dims: [2], dataType: BFLOAT16, dataLocation: EXTERNAL_DATA_LOCATION, externalData: [{ key: 'location', value: 'c.bin' }, { key: 'offset', value: '0' }, { key: 'length', value: '4' }] };
  const graph: GraphProto = {
    name: 'every place',
    // W is also an input, as exporters before IR 4 list every initializer
    input: [info('x', tensorOf(BFLOAT16, [2])), info('W', tensorOf(BFLOAT16, [2]))],
    initializer: [{ name: 'W', dims: [2], dataType: BFLOAT16, rawData: raw([ONE_AND_HALF, MINUS_2_25]) }],
    node: [
      constant('c', { dims: [2], dataType: BFLOAT16, int32Data: [HALF, THREE] }), // as Python's helpers write 16-bit values
      constant('shape', { dims: [1], dataType: INT64, int64Data: [2] }),
      node('ConstantOfShape', ['shape'], 'ones', [{ name: 'value', t: { dims: [1], dataType: BFLOAT16, rawData: raw([ONE]) }, type: TENSOR }]),
      node('Mul', ['W', 'c'], 's1'),
      node('Add', ['s1', 'x'], 's2'),
      node('Add', ['s2', 'ones'], 's3'),
      constant('flag', { dims: [], dataType: 9, int32Data: [1] }),
      node('If', ['flag'], 'branch', [{ name: 'then_branch', g: then, type: GRAPH }, { name: 'else_branch', g: otherwise, type: GRAPH }]),
      node('SequenceConstruct', ['branch'], 'sequence'),
      constant('zero', { dims: [], dataType: INT64, int64Data: [0] }),
      node('SequenceAt', ['sequence', 'zero'], 'picked'),
      node('Cast', ['picked'], 'y', [{ name: 'to', i: BFLOAT16, type: INT }]),
      constant('scale', external),
      node('Mul', ['y', 'scale'], 'scaled'),
      constant('square', { dims: [2, 2], dataType: FLOAT, floatData: [0, 0, 0, 0] }),
      node('EyeLike', ['square'], 'eye', [{ name: 'dtype', i: BFLOAT16, type: INT }]),
    ],
    output: [info('scaled', tensorOf(BFLOAT16, [2])), info('eye', tensorOf(BFLOAT16, [2, 2]))],
    valueInfo: [info('s1', tensorOf(BFLOAT16, [2])), info('sequence', { sequenceType: { elemType: tensorOf(BFLOAT16, [2]) } })],
  };
  return schema.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph }).finish();
}

describe('widenBfloat16', function () {
  this.timeout(300_000);

  it('widens bfloat16 in every place a graph holds it, subgraphs included, and onnxruntime computes the values in float32', async () => {
    const dir = await temporaryFolder();
    await writeFile(path.join(dir, 'c.bin'), raw([HALF, THREE]));
    const original = everyPlaceModel();
    assert.deepEqual(bfloat16Left(decodeModel(original).graph!).sort(), [
      'graph > If: initializer k',
      'graph > If: type of doubled',
      'graph > If: type of same',
      'graph: Cast to',
      'graph: Constant value tensor',
      'graph: Constant value tensor',
      'graph: ConstantOfShape value tensor',
      'graph: EyeLike dtype',
      'graph: initializer W',
      'graph: type of W',
      'graph: type of eye',
      'graph: type of s1',
      'graph: type of scaled',
      'graph: type of sequence',
      'graph: type of x',
    ]);
    const widened = widenBfloat16(original, path.join(dir, 'model.onnx'));
    const graph = decodeModel(widened).graph!;
    assert.deepEqual(bfloat16Left(graph), []);
    // the initializer keeps its bytes under a new name; its default-giving input is gone; the external Constant is read through a Cast
    assert.deepEqual(graph.input!.map((v) => v.name), ['x']);
    assert.deepEqual(graph.initializer!.map((t) => [t.name, t.dataType]), [[keptName('W'), BFLOAT16]]);
    assert.deepEqual(graph.node!.find((n) => n.opType === 'If')!.attribute![0]!.g!.initializer!.map((t) => t.name), [keptName('k')]);
    assert.deepEqual(graph.node!.filter((n) => n.opType === 'Cast').map((n) => n.input![0]), [keptName('W'), 'picked', keptName('scale')]);

    const session = await ort.InferenceSession.create(widened, { extra: { session: { model_external_initializers_file_folder_path: dir } } });
    const { scaled, eye } = await session.run({ x: new ort.Tensor('float32', Float32Array.of(0.25, 0.5), [2]) });
    await session.release();
    // ((W · c + x + 1) · 2) · c: ((0.75 + 0.25 + 1) · 2) · 0.5 = 2, ((−6.75 + 0.5 + 1) · 2) · 3 = −31.5
    assert.deepEqual([scaled!.type, Array.from(scaled!.data as Float32Array)], ['float32', [2, -31.5]]);
    assert.deepEqual([eye!.type, Array.from(eye!.data as Float32Array)], ['float32', [1, 0, 0, 1]]);
  });

  it('copies a graph without bfloat16 byte for byte', async () => {
    for (const name of ['base', 'base-dynamo'] as const) {
      const bytes = await readFile(path.join(modelDir(name), 'model.onnx'));
      assert.ok(Buffer.from(widenBfloat16(bytes, name)).equals(bytes), name);
    }
  });

  describe("on the bf16 export (make-exports.py), whole and as the reduced graph's Loop bodies", () => {
    let dir = '';
    before(async function () {
      dir = path.join(await exportsOrSkip(this, 'base'), 'bf16');
    });

    it('leaves no bfloat16 but the weights, each kept in model.onnx_data where it was and read by one Cast to float32', async () => {
      const bytes = await readFile(path.join(dir, 'model.onnx'));
      const original = decodeModel(bytes).graph!;
      const before = bfloat16Left(original);
      // measured on this export: 57 weights, 472 typed tensors (value_info and logits), 50 Casts to bfloat16, 50 bfloat16 Constants
      assert.deepEqual([count(before, /initializer/), count(before, /type of/), count(before, /Cast to/), count(before, /Constant value tensor/)], [57, 472, 50, 50]);
      const widened = decodeModel(widenBfloat16(bytes, path.join(dir, 'model.onnx'))).graph!;
      assert.deepEqual(bfloat16Left(widened), []);
      const kept = new Map(widened.initializer!.map((t) => [t.name, t]));
      for (const t of original.initializer!) assert.deepEqual(kept.get(keptName(t.name!))!.externalData, t.externalData, t.name!);
    });

    it('and none in a reduced graph whose layers run in blocks of queries, where Loop bodies carry bfloat16 of their own', async () => {
      const checkpoint = await openCheckpoint(dir);
      const reduced = reduceAttentionInGraph(await readFile(checkpoint.graphFile), checkpoint.graph.attention, { entropy: true, meanLayers: [], blockRows: 8 });
      const inLoops = count(bfloat16Left(decodeModel(reduced).graph!), /> Loop/);
      assert.ok(inLoops >= checkpoint.graph.attention.length, `${inLoops} places in the Loop bodies`);
      assert.deepEqual(bfloat16Left(decodeModel(widenBfloat16(reduced, checkpoint.graphFile)).graph!), []);
    });
  });
});
