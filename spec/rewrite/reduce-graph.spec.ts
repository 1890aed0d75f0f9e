import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { synthCheckpoint } from '../../lib/synth/synth-checkpoint.js';
import { openCheckpoint } from '../../lib/checkpoint/checkpoint.js';
import { runCli } from '../../bin/cli.js';
import { captureIo, modelDir, referenceIndex, temporaryFolder } from '../helpers.js';
import { checkMeasuresAgainstFullMaps, checkTensorsAgainstFullMaps } from './parity.js';

describe('measures computed inside the graph', () => {
  it('give the masses, column sums, rollout, entropy and head means of the full maps on the TorchScript export, in a padded batch', async () => {
    const texts = (await referenceIndex()).probes.map((p) => p.text);
    await checkTensorsAgainstFullMaps(await openCheckpoint(modelDir('base')), texts);
  });

  it('give the same entropy from the T×T scores, the path of graphs whose scores are not affine in q·k', async () => {
    const texts = (await referenceIndex()).probes.map((p) => p.text);
    await checkTensorsAgainstFullMaps(await openCheckpoint(modelDir('base')), texts, true);
  });

  it('give every share, control share, entropy, rollout and component matrix of the full maps, for every query set and sink mode', async () => {
    const texts = (await referenceIndex()).probes.map((p) => p.text);
    await checkMeasuresAgainstFullMaps(await openCheckpoint(modelDir('base')), texts);
  });

  it('give the same from plain column sums, one sequence per pass, with the sink included', async () => {
    const texts = (await referenceIndex()).probes.map((p) => p.text);
    await checkMeasuresAgainstFullMaps(await openCheckpoint(modelDir('base')), texts, 'plain');
  });

  it('equal those computed from the full maps on the torch.export export', async () => {
    const texts = (await referenceIndex()).probes.map((p) => p.text).slice(0, 2);
    const checkpoint = await openCheckpoint(modelDir('base-dynamo'));
    await checkTensorsAgainstFullMaps(checkpoint, texts);
    await checkMeasuresAgainstFullMaps(checkpoint, texts);
  });

  it('equal those computed from the full maps on a synthetic grouped-query model with a sliding window', async () => {
    const dir = await synthCheckpoint(path.join(await temporaryFolder(), 'synth'), { layers: 3, heads: 8, kvHeads: 2, hidden: 64, vocab: 4096, slidingWindow: 6 });
    const texts = ['Under res judicata, a claim that was decided cannot be litigated again.', 'A duty of care was owed and breached.'];
    await checkTensorsAgainstFullMaps(await openCheckpoint(dir), texts);
    await checkMeasuresAgainstFullMaps(await openCheckpoint(dir), texts);
  });
});

describe('legal-attn synth', () => {
  it('plants a change on the embedding rows of the given tokens only, every other weight as the same seed gives it', async () => {
    const root = await temporaryFolder();
    const shape = { layers: 2, heads: 4, kvHeads: 2, hidden: 32, vocab: 4096 };
    const plain = await synthCheckpoint(path.join(root, 'plain'), shape);
    const planted = await synthCheckpoint(path.join(root, 'planted'), { ...shape, plant: { tokens: [7, 4000], scale: 0.5, seed: 3 } });
    const [a, b] = await Promise.all([plain, planted].map(async (dir) => new Float32Array((await readFile(path.join(dir, 'model.onnx_data'))).buffer.slice(0))));
    const changedRows = new Set<number>();
    for (let k = 0; k < a!.length; k++) if (a![k] !== b![k]) changedRows.add(k < 4096 * 32 ? Math.floor(k / 32) : -1);
    assert.deepEqual([...changedRows].sort((x, y) => x - y), [7, 4000]);
  });

  it('writes a Mistral-shaped checkpoint whose attention legal-attn finds, decomposed or fused', async () => {
    const root = await temporaryFolder();
    const dir = await synthCheckpoint(path.join(root, 'gqa'), { layers: 4, heads: 8, kvHeads: 2, hidden: 64, vocab: 4096 });
    const checkpoint = await openCheckpoint(dir);
    assert.equal(checkpoint.graph.attention.length, 4);
    assert.deepEqual([checkpoint.shape.heads, checkpoint.shape.kvHeads, checkpoint.shape.headSize], [8, 2, 8]);
    assert.deepEqual(checkpoint.graph.externalData, ['model.onnx_data']);
    assert.equal(checkpoint.graph.attentionSource, 'softmax');
    const fused = await openCheckpoint(await synthCheckpoint(path.join(root, 'fused'), { layers: 2, heads: 8, kvHeads: 2, hidden: 128, vocab: 4096, attention: 'gqa' }));
    assert.equal(fused.graph.attentionSource, 'fused');
    assert.deepEqual(fused.graph.attention.map((site) => [site.label, site.fused?.op, site.fused?.key, site.fused?.heads, site.fused?.kvHeads]), [
      ['layers.0', 'GroupQueryAttention', '', 8, 2],
      ['layers.1', 'GroupQueryAttention', '', 8, 2],
    ]);
  });

  it('is a command: legal-attn synth writes the checkpoint, and refuses heads that do not share key/value heads evenly', async () => {
    const root = await temporaryFolder();
    const io = captureIo();
    const code = await runCli(['--json', 'synth', '--out', path.join(root, 'cli'), '--layers', '2', '--heads', '4', '--kv-heads', '2', '--hidden', '32', '--sliding-window', '8'], io);
    assert.equal(code, 0, io.err);
    const checkpoint = await openCheckpoint(path.join(root, 'cli'));
    assert.deepEqual([checkpoint.graph.attention.length, checkpoint.shape.heads, checkpoint.shape.kvHeads], [2, 4, 2]);
    assert.equal((JSON.parse(io.out) as { slidingWindow: number }).slidingWindow, 8);
    const refused = captureIo();
    assert.equal(await runCli(['synth', '--out', path.join(root, 'odd'), '--heads', '6', '--kv-heads', '4', '--hidden', '48'], refused), 2);
    assert.match(refused.err, /^legal-attn: --heads 6 must be a multiple of --kv-heads 4\.\n$/);
  });
});
