import assert from 'node:assert/strict';
import ort from 'onnxruntime-node';
import { constantTensor, intAttribute } from '../../lib/onnx/build.js';
import { decodeModel } from '../../lib/onnx/model.js';
import { schema, type NodeProto } from '../../lib/onnx/proto.js';
import { editGraph, onnxOpset } from '../../lib/onnx/wire.js';

/** y = x + 1 over `x` `[2]`, in a graph of one ai.onnx opset. */
const model = (opset: number): Uint8Array =>
  schema.ModelProto.encode({
    irVersion: 6,
    opsetImport: [{ domain: '', version: opset }, { domain: 'com.microsoft', version: 1 }],
    graph: {
      name: 'g',
      node: [{ opType: 'Add', input: ['x', 'one'], output: ['y'], name: 'add' }],
      initializer: [{ name: 'one', dims: [], dataType: 1, floatData: [1] }],
      input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 2 }] } } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: 1 } } }],
    },
  }).finish();

// What legal-attn adds, spelled for opset 13 and later: x unsqueezed on a constant axis, its sum over that axis, y ≤ x.
const added: NodeProto[] = [
  { opType: 'Constant', input: [], output: ['axes'], name: 'axes', attribute: [{ name: 'value', t: constantTensor('', [0], [1], 'int64'), type: schema.AttributeProto.AttributeType.TENSOR }] },
  { opType: 'Unsqueeze', input: ['y', 'axes'], output: ['y_2d'], name: 'unsqueeze' },
  { opType: 'ReduceSum', input: ['y_2d', 'sum_axes'], output: ['total'], name: 'sum', attribute: [intAttribute('keepdims', 0)] },
  { opType: 'LessOrEqual', input: ['y', 'x'], output: ['at_most'], name: 'at_most' },
];
const edit = { after: new Map([[0, added]]), initializers: [constantTensor('sum_axes', [0], [1], 'int64')], outputs: [{ name: 'total' }, { name: 'at_most' }] };

describe('nodes added to an older graph', () => {
  it('read the ai.onnx opset off the wire', () => {
    assert.equal(onnxOpset(model(11)), 11);
    assert.equal(onnxOpset(model(17)), 17);
  });

  it('take opset 11 spelling: constant axes as attributes, ≤ as not >, and no constant left unread', () => {
    const graph = decodeModel(editGraph(model(11), edit)).graph!;
    const byName = new Map(graph.node!.map((n) => [n.name, n]));
    assert.deepEqual(byName.get('unsqueeze')!.input, ['y']);
    assert.deepEqual(byName.get('unsqueeze')!.attribute!.find((a) => a.name === 'axes')!.ints!.map(Number), [0]);
    assert.deepEqual(byName.get('sum')!.input, ['y_2d']);
    assert.deepEqual(graph.node!.slice(-2).map((n) => n.opType), ['Greater', 'Not']);
    assert.equal(byName.has('axes'), false);
    assert.deepEqual(graph.initializer!.map((t) => t.name), ['one']);
  });

  it('run in onnxruntime as opset 11 and as opset 17 alike', async () => {
    const results = [];
    for (const opset of [11, 17]) {
      const session = await ort.InferenceSession.create(editGraph(model(opset), edit));
      const out = await session.run({ x: new ort.Tensor('float32', Float32Array.of(1, 4), [2]) });
      results.push([Array.from(out.total!.data as Float32Array), Array.from(out.at_most!.data as Uint8Array)]);
      await session.release();
    }
    assert.deepEqual(results[0], [[2, 5], [0, 0]]);
    assert.deepEqual(results[1], results[0]);
  });

  it('are left as they are from opset 13 on', () => {
    const graph = decodeModel(editGraph(model(13), edit)).graph!;
    assert.deepEqual(graph.node!.find((n) => n.name === 'unsqueeze')!.input, ['y', 'axes']);
  });
});
