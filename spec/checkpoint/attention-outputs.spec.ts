import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { loadTokenizer } from '../../lib/tokenize/tokenizer.js';
import { openCheckpoint } from '../../lib/checkpoint/checkpoint.js';
import { findAttentionSoftmax } from '../../lib/checkpoint/find-attention.js';
import { traceAttention } from '../../lib/runtime/passes.js';
import { alteredCheckpoint } from '../bin/checkpoints.js';
import { maxAbsDifference, modelDir, referenceAttention, referenceIndex } from '../helpers.js';

const { onnx } = onnxProto;

/** tiny-legal-base re-exported the way `output_attentions=True` exports look: outputs attentions.0 … attentions.5. */
async function exportWithAttentionOutputs(): Promise<Uint8Array> {
  const model = onnx.ModelProto.decode(await readFile(path.join(modelDir('base'), 'model.onnx')));
  const graph = model.graph!;
  findAttentionSoftmax(graph).forEach((site, layer) => {
    (graph.node ??= []).push(onnx.NodeProto.create({ opType: 'Identity', name: `attentions_${layer}`, input: [site.output], output: [`attentions.${layer}`] }));
    (graph.output ??= []).push(onnx.ValueInfoProto.create({ name: `attentions.${layer}` }));
  });
  return onnx.ModelProto.encode(model).finish();
}

describe('a model that outputs its attentions', () => {
  it('is used as it is, and its attentions equal the reference', async () => {
    const dir = await alteredCheckpoint({ graph: await exportWithAttentionOutputs() });
    const checkpoint = await openCheckpoint(dir);
    assert.equal(checkpoint.graph.attentionSource, 'outputs');
    assert.deepEqual(checkpoint.graph.attention.map((s) => s.output), ['attentions.0', 'attentions.1', 'attentions.2', 'attentions.3', 'attentions.4', 'attentions.5']);
    const probe = (await referenceIndex()).probes[0]!;
    const ids = (await (await loadTokenizer(dir)).encode(probe.text)).ids;
    for await (const { attention } of traceAttention(checkpoint, [ids])) {
      assert.ok(maxAbsDifference(attention.data, (await referenceAttention('base', probe.id)).data) < 1e-4);
    }
  });
});
