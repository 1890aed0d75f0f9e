import assert from 'node:assert/strict';
import path from 'node:path';
import { synthCheckpoint } from '../../lib/synth/synth-checkpoint.js';
import { loadTokenizer } from '../../lib/tokenize/tokenizer.js';
import { openCheckpoint, type Checkpoint } from '../../lib/trace/checkpoint.js';
import { openAttentionSession, openReducedSession } from '../../lib/trace/session.js';
import { maxAbsDifference, modelDir, referenceIndex, temporaryFolder } from '../helpers.js';

/** Key sets as 0/1 columns: the given token sets, then every key, then the sink. */
function keySetColumns(T: number, sets: number[][]): { columns: Float32Array; count: number } {
  const all = [...sets, Array.from({ length: T }, (_, j) => j), [0]];
  const columns = new Float32Array(T * all.length);
  all.forEach((set, k) => set.forEach((j) => (columns[j * all.length + k] = 1)));
  return { columns, count: all.length };
}

async function checkAgainstFullMaps(checkpoint: Checkpoint, texts: string[]): Promise<void> {
  const tokenizer = await loadTokenizer(checkpoint.dir);
  const ids = await Promise.all(texts.map(async (t) => (await tokenizer.encode(t)).ids));
  const full = await openAttentionSession(checkpoint);
  const maps = await full.run(ids);
  await full.release();
  const layers = checkpoint.graph.attention.length;
  const reduced = await openReducedSession(checkpoint, { entropy: true, meanLayers: [0, layers - 1] });
  const sets = ids.map((s) => keySetColumns(s.length, [[3, 4], [1, 6, 7]]));
  const results = await reduced.run(ids, sets.map((s) => s.columns), sets[0]!.count);
  await reduced.release();
  results.forEach((result, s) => {
    const attention = maps[s]!;
    const [, heads = 0, T = 0] = attention.dims;
    const K = sets[s]!.count;
    const mass = new Float32Array(layers * heads * T * K);
    const entropy = new Float32Array(layers * heads * T);
    for (let m = 0; m < layers * heads; m++) {
      for (let i = 0; i < T; i++) {
        const row = attention.data.subarray((m * T + i) * T, (m * T + i + 1) * T);
        for (let k = 0; k < K; k++) for (let j = 0; j < T; j++) mass[(m * T + i) * K + k]! += row[j]! * sets[s]!.columns[j * K + k]!;
        entropy[m * T + i] = -row.reduce((acc, p) => acc + (p > 0 ? p * Math.log(p) : 0), 0);
      }
    }
    assert.deepEqual(result.mass.dims, [layers, heads, T, K]);
    assert.ok(maxAbsDifference(result.mass.data, mass) < 1e-5, `mass ${maxAbsDifference(result.mass.data, mass)}`);
    assert.ok(maxAbsDifference(result.entropy!.data, entropy) < 1e-5, `entropy ${maxAbsDifference(result.entropy!.data, entropy)}`);
    for (const l of [0, layers - 1]) {
      const mean = new Float32Array(T * T);
      for (let h = 0; h < heads; h++) for (let k = 0; k < T * T; k++) mean[k]! += attention.data[(l * heads + h) * T * T + k]! / heads;
      assert.ok(maxAbsDifference(result.means.get(l)!.data, mean) < 1e-5);
    }
  });
}

describe('measures computed inside the graph', () => {
  it('equal those computed from the full maps on the TorchScript export, in a padded batch', async () => {
    const texts = (await referenceIndex()).probes.map((p) => p.text);
    await checkAgainstFullMaps(await openCheckpoint(modelDir('base')), texts);
  });

  it('equal those computed from the full maps on the torch.export export', async () => {
    const texts = (await referenceIndex()).probes.map((p) => p.text).slice(0, 2);
    await checkAgainstFullMaps(await openCheckpoint(modelDir('base-dynamo')), texts);
  });

  it('equal those computed from the full maps on a synthetic grouped-query model with a sliding window', async () => {
    const dir = await synthCheckpoint(path.join(await temporaryFolder(), 'synth'), { layers: 3, heads: 8, kvHeads: 2, hidden: 64, vocab: 4096, slidingWindow: 6 });
    await checkAgainstFullMaps(await openCheckpoint(dir), ['Under res judicata, a claim that was decided cannot be litigated again.']);
  });
});

describe('legal-attn synth', () => {
  it('writes a Mistral-shaped checkpoint whose attention legal-attn finds, and a fused one it refuses', async () => {
    const root = await temporaryFolder();
    const dir = await synthCheckpoint(path.join(root, 'gqa'), { layers: 4, heads: 8, kvHeads: 2, hidden: 64, vocab: 4096 });
    const checkpoint = await openCheckpoint(dir);
    assert.equal(checkpoint.graph.attention.length, 4);
    assert.deepEqual([checkpoint.shape.heads, checkpoint.shape.kvHeads, checkpoint.shape.headSize], [8, 2, 8]);
    assert.deepEqual(checkpoint.graph.externalData, ['model.onnx_data']);
    await synthCheckpoint(path.join(root, 'fused'), { layers: 2, heads: 8, kvHeads: 2, hidden: 64, vocab: 4096, fusedAttention: true });
    await assert.rejects(openCheckpoint(path.join(root, 'fused')), /attention is fused into GroupQueryAttention nodes/);
  });
});
