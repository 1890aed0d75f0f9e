import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { analyseGraph, findAttentionOutputs, findAttentionSoftmax } from '../../lib/checkpoint/find-attention.js';
import { decodeModel } from '../../lib/onnx/model.js';
import { modelDir } from '../helpers.js';
import { type GraphProto } from '../../lib/onnx/proto.js';

const graphOf = async (name: 'base' | 'base-dynamo'): Promise<GraphProto> => decodeModel(await readFile(path.join(modelDir(name), 'model.onnx'))).graph!;
const node = (opType: string, input: string[], output: string[], name = output[0]!) => ({ opType, input, output, name });

describe('findAttentionSoftmax', () => {
  it('finds the six layers of the TorchScript export, in layer order, labelled from node names', async () => {
    const sites = findAttentionSoftmax(await graphOf('base'));
    assert.deepEqual(sites.map((s) => s.label), ['layers.0', 'layers.1', 'layers.2', 'layers.3', 'layers.4', 'layers.5']);
    assert.equal(sites[3]?.node, '/m/model/layers.3/self_attn/Softmax');
  });

  it('finds the six layers of the torch.export export, whose node names say nothing of layers', async () => {
    const sites = findAttentionSoftmax(await graphOf('base-dynamo'));
    assert.equal(sites.length, 6);
    assert.ok(sites.every((s) => /^node_Softmax_\d+$/.test(s.node)));
    assert.deepEqual(sites.map((s) => s.layer), [0, 1, 2, 3, 4, 5]);
  });

  it('ignores a Softmax that is not attention (over logits, or not followed by a product with values)', () => {
    const graph: GraphProto = {
      initializer: [{ name: 'W', dims: [4, 4] }],
      node: [
        node('MatMul', ['q', 'kT'], ['scores']),
        node('Softmax', ['scores'], ['probs']),
        node('MatMul', ['probs', 'v'], ['context']),
        node('MatMul', ['context', 'W'], ['logits']),
        node('Softmax', ['logits'], ['token_probs']),
        node('MatMul', ['x', 'W'], ['projected']),
        node('Softmax', ['projected'], ['gates']),
        node('MatMul', ['gates', 'v'], ['mixed']),
      ],
    };
    assert.deepEqual(findAttentionSoftmax(graph).map((s) => s.output), ['probs']);
  });

  it('follows scaling, masking and casts between the query·key product and the Softmax', () => {
    const graph: GraphProto = {
      initializer: [{ name: 'scale', dims: [] }],
      node: [
        node('MatMul', ['q', 'kT'], ['scores']),
        node('Div', ['scores', 'scale'], ['scaled']),
        node('Add', ['scaled', 'mask'], ['masked']),
        node('Cast', ['masked'], ['masked32']),
        node('Softmax', ['masked32'], ['probs']),
        node('Cast', ['probs'], ['probs16']),
        node('MatMul', ['probs16', 'v'], ['context']),
      ],
    };
    assert.equal(findAttentionSoftmax(graph)[0]?.output, 'probs');
  });
});

describe('findAttentionOutputs', () => {
  it('uses attentions.N outputs as they are, ordered by number', () => {
    const graph: GraphProto = { output: [{ name: 'logits' }, { name: 'attentions.10' }, { name: 'attentions.2' }, { name: 'attentions.0' }] };
    assert.deepEqual(findAttentionOutputs(graph).map((s) => [s.layer, s.output]), [
      [0, 'attentions.0'],
      [1, 'attentions.2'],
      [2, 'attentions.10'],
    ]);
  });
});

describe('analyseGraph', () => {
  it('reads inputs, external data, embedding rows and opset of both exports', async () => {
    for (const name of ['base', 'base-dynamo'] as const) {
      const model = decodeModel(await readFile(path.join(modelDir(name), 'model.onnx')));
      const analysis = analyseGraph(model);
      assert.deepEqual(analysis.inputs.map((i) => [i.name, i.type]), [['input_ids', 'int64'], ['attention_mask', 'int64']]);
      assert.deepEqual(analysis.externalData, ['model.onnx_data']);
      assert.equal(analysis.embeddingRows, 4096);
      assert.equal(analysis.opsets[0]?.version, name === 'base' ? 17 : 18);
      assert.deepEqual(analysis.fusedAttention, []);
    }
  });

  it('reports fused attention nodes, and why it cannot read those it does not', () => {
    const ms = (n: ReturnType<typeof node>) => ({ ...n, domain: 'com.microsoft' });
    const softcap = { name: 'softcap', f: 30, type: 1 };
    const model = {
      graph: {
        node: [
          ms(node('MultiHeadAttention', ['q', 'k', 'v', 'qkv_bias'], ['o1'], 'mha_bias')),
          ms(node('MultiHeadAttention', ['q', 'k', 'v', '', '', '', 'past_k', 'past_v'], ['o2'], 'mha_past')),
          node('GroupQueryAttention', ['q', 'k', 'v'], ['o3'], 'gqa_onnx_domain'),
          { ...node('Attention', ['q', 'k', 'v'], ['o4'], 'onnx_softcap'), attribute: [softcap, { name: 'is_causal', i: 1, type: 2 }] },
          { ...ms(node('Attention', ['hidden', 'w', 'b'], ['o5'], 'ms_attention_rotary')), attribute: [{ name: 'do_rotary', i: 1, type: 2 }] },
          ms(node('Attention', ['hidden', 'w', 'b', 'mask'], ['o6'], 'ms_attention_mask')),
          ms(node('Attention', ['hidden', 'w', 'b'], ['o7'], 'ms_no_heads')),
          { ...ms(node('Attention', ['hidden', 'w', 'b'], ['o8'], 'ms_attention')), attribute: [{ name: 'num_heads', i: 4, type: 2 }, { name: 'unidirectional', i: 1, type: 2 }] },
        ],
      },
    };
    const analysis = analyseGraph(model);
    const reads = 'legal-attn reads GroupQueryAttention, MultiHeadAttention and Attention (com.microsoft) and ONNX Attention';
    assert.deepEqual(analysis.fusedAttention, [
      { node: 'mha_bias', op: 'MultiHeadAttention', unread: 'a projection bias input, added to q, k and v inside the kernel' },
      { node: 'mha_past', op: 'MultiHeadAttention', unread: 'past key and value inputs computed inside the graph (legal-attn feeds a past only where it is a graph input, empty, and reads whole sequences in one pass)' },
      { node: 'gqa_onnx_domain', op: 'GroupQueryAttention', unread: `ai.onnx GroupQueryAttention; ${reads}` },
      { node: 'onnx_softcap', op: 'Attention', unread: 'softcap (not read for ONNX Attention yet)' },
      { node: 'ms_attention_rotary', op: 'Attention', unread: 'do_rotary (rotary tables made inside the kernel)' },
      { node: 'ms_attention_mask', op: 'Attention', unread: 'a mask_index of rank unknown (legal-attn reads [batch] key counts and [batch, keys] padding)' },
      { node: 'ms_no_heads', op: 'Attention', unread: 'no num_heads attribute' },
      { node: 'ms_attention', op: 'Attention' },
    ]);
    // the one it reads: q and k projected from the input by the packed weights, 4 heads, causal
    assert.deepEqual(
      analysis.attention.map((a) => [a.node, a.fused?.projection, a.fused?.heads, a.fused?.causal]),
      [['ms_attention', { weights: 'w', bias: 'b' }, 4, true]],
    );
  });
});
