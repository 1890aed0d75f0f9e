import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import protobuf from 'protobufjs/minimal.js';
import { decodeModel } from '../../lib/onnx/model.js';
import { editGraph, graphBytes, wireFields } from '../../lib/onnx/wire.js';
import { modelDir } from '../helpers.js';

const { onnx: schema } = onnxProto;
const withWeights = (dir: string): ort.InferenceSession.SessionOptions => ({ extra: { session: { model_external_initializers_file_folder_path: dir } } });

/** A field number no version of onnx.proto uses, as a newer writer would add one. */
const FUTURE_FIELD = 999;
const futureField = (text: string): Uint8Array => protobuf.Writer.create().uint32((FUTURE_FIELD << 3) | 2).string(text).finish();
const delimited = (field: number, payload: Uint8Array): Uint8Array => protobuf.Writer.create().uint32((field << 3) | 2).bytes(payload).finish();

/** y = Softmax(x · x) · x, with a field unknown to every schema in its Softmax node and in the model. */
function modelWithFutureFields(): Uint8Array {
  const graph = schema.GraphProto.encode({
    name: 'g',
    input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 2 }, { dimValue: 2 }] } } } }],
    output: [{ name: 'y', type: { tensorType: { elemType: 1 } } }],
  }).finish();
  const nodes = [
    schema.NodeProto.encode({ opType: 'MatMul', input: ['x', 'x'], output: ['s'], name: 'qk' }).finish(),
    Buffer.concat([schema.NodeProto.encode({ opType: 'Softmax', input: ['s'], output: ['p'], name: 'softmax' }).finish(), futureField('node-level')]),
    schema.NodeProto.encode({ opType: 'MatMul', input: ['p', 'x'], output: ['y'], name: 'pv' }).finish(),
  ];
  const graphWithNodes = Buffer.concat([...nodes.map((n) => delimited(1, n)), graph]);
  const head = schema.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }] }).finish();
  return Buffer.concat([head, delimited(7, graphWithNodes), futureField('model-level')]);
}

const contains = (haystack: Uint8Array, needle: Uint8Array): boolean => Buffer.from(haystack).indexOf(Buffer.from(needle)) >= 0;

describe('editGraph', () => {
  it('adds outputs that onnxruntime returns, to a model written by the torch.export exporter', async () => {
    const original = await readFile(path.join(modelDir('base-dynamo'), 'model.onnx'));
    const patched = editGraph(original, { outputs: [{ name: 'val_169' }, { name: 'val_295' }] });
    const session = await ort.InferenceSession.create(patched, withWeights(modelDir('base-dynamo')));
    assert.deepEqual(session.outputNames, ['logits', 'val_169', 'val_295']);
    await session.release();
  });

  it('keeps fields newer than its schema, in the model and in a node it renames an input of', async () => {
    const original = modelWithFutureFields();
    // The old way (decode, change, encode with onnx-proto) loses both.
    assert.ok(!contains(schema.ModelProto.encode(schema.ModelProto.decode(original)).finish(), futureField('node-level')));
    const edited = editGraph(original, {
      before: new Map([[1, [{ opType: 'Identity', input: ['s'], output: ['s2'], name: 'added' }]]]),
      renamedInputs: new Map([[1, new Map([[0, 's2']])]]),
      outputs: [{ name: 'p' }],
    });
    assert.ok(contains(edited, futureField('node-level')));
    assert.ok(contains(edited, futureField('model-level')));
    const nodes = decodeModel(edited).graph!.node!;
    assert.deepEqual(nodes.map((n) => [n.name, n.input]), [['qk', ['x', 'x']], ['added', ['s']], ['softmax', ['s2']], ['pv', ['p', 'x']]]);
    const softmaxNode = wireFields(graphBytes(edited)).filter((f) => f.field === 1)[2]!;
    const softmaxFields = wireFields(graphBytes(edited).subarray(softmaxNode.payload![0], softmaxNode.payload![1])).map((f) => f.field);
    assert.deepEqual(softmaxFields, [1, 2, 3, 4, FUTURE_FIELD]);
    const session = await ort.InferenceSession.create(edited);
    const x = new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4), [2, 2]);
    const { p } = await session.run({ x }, ['p']);
    // row 0 of x·x is [7, 10]: softmax [e^-3, 1] / (1 + e^-3)
    assert.ok(Math.abs((p!.data as Float32Array)[1]! - 1 / (1 + Math.exp(-3))) < 1e-6);
    await session.release();
  });

  it('reads a graph written in two parts as one, as protobuf merges them', async () => {
    const original = await readFile(path.join(modelDir('base'), 'model.onnx'));
    const fields = wireFields(original);
    const graphField = fields.find((f) => f.field === 7)!;
    const graph = original.subarray(graphField.payload![0], graphField.payload![1]);
    const graphFields = wireFields(graph);
    const half = graphFields[Math.floor(graphFields.length / 2)]!.start;
    const split = Buffer.concat([
      ...fields.filter((f) => f.field !== 7).map((f) => original.subarray(f.start, f.end)),
      delimited(7, graph.subarray(0, half)),
      delimited(7, graph.subarray(half)),
    ]);
    assert.equal(decodeModel(split).graph!.node!.length, decodeModel(original).graph!.node!.length);
    const edited = editGraph(split, { outputs: [{ name: '/m/model/layers.0/self_attn/Softmax_output_0' }] });
    assert.equal(wireFields(edited).filter((f) => f.field === 7).length, 1);
    const session = await ort.InferenceSession.create(edited, withWeights(modelDir('base')));
    assert.ok(session.outputNames.includes('/m/model/layers.0/self_attn/Softmax_output_0'));
    await session.release();
  });
});
