import assert from 'node:assert/strict';
import { findLogits } from '../../lib/checkpoint/logits.js';
import type { GraphProto, ValueInfoProto } from '../../lib/onnx/proto.js';

const output = (name: string, dims: Array<number | string>): ValueInfoProto => ({
  name,
  type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
});
const graphWith = (outputs: ValueInfoProto[]): GraphProto => ({ node: outputs.map((o, k) => ({ opType: 'MatMul', input: [`x${k}`, `w${k}`], output: [o.name!] })), output: outputs });

describe('findLogits', () => {
  it('takes the output named logits, wherever it is written', () => {
    assert.deepEqual(findLogits(graphWith([output('present.0.key', ['batch', 2, 'seq', 16]), output('logits', ['batch', 'seq', 'vocab'])]), 4096), { output: 'logits', position: 1 });
  });

  it('else takes the one rank-3 output as wide as the embedding table', () => {
    assert.deepEqual(findLogits(graphWith([output('hidden', ['batch', 'seq', 128]), output('scores', ['batch', 'seq', 4096])]), 4096), { output: 'scores', position: 1 });
  });

  it('says why where no output is the logits', () => {
    assert.equal(findLogits(graphWith([output('hidden', ['batch', 'seq', 128])]), 4096), 'no logits output (none is named logits, and 0 rank-3 outputs are as wide as the vocabulary)');
  });
});
