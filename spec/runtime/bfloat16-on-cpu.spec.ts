import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { LegalAttnError } from '../../lib/errors.js';
import type { Float32Tensor } from '../../lib/io/npy.js';
import { openCheckpoint, type Checkpoint } from '../../lib/checkpoint/checkpoint.js';
import { loadTokenizer } from '../../lib/tokenize/tokenizer.js';
import { openAttentionSession, type SessionOptions } from '../../lib/runtime/session.js';
import { maxAbsDifference, modelDir, referenceIndex, run } from '../helpers.js';
import { exportsOrSkip, sharesOf } from '../checkpoint/exports.js';

/** Full maps `[layers, heads, T, T]` of the reference probes. */
async function probeMaps(checkpoint: Checkpoint, options: SessionOptions = {}): Promise<Float32Tensor[]> {
  const tokenizer = await loadTokenizer(checkpoint.dir);
  const session = await openAttentionSession(checkpoint, options);
  try {
    const maps: Float32Tensor[] = [];
    for (const probe of (await referenceIndex()).probes) maps.push(...(await session.run([(await tokenizer.encode(probe.text)).ids])));
    return maps;
  } finally {
    await session.release();
  }
}

describe('bfloat16 checkpoints on the CPU, widened to float32 as the session opens', function () {
  this.timeout(300_000);
  let root = '';
  before(async function () {
    root = await exportsOrSkip(this, 'base');
  });

  it('traces the bf16 export: every row a probability distribution over the keys up to its query', async () => {
    const maps = await probeMaps(await openCheckpoint(path.join(root, 'bf16')));
    for (const { data, dims } of maps) {
      const [layers = 0, heads = 0, T = 0] = dims;
      assert.deepEqual(dims, [6, 8, T, T]);
      for (let r = 0; r < layers * heads * T; r++) {
        const i = r % T;
        const row = data.subarray(r * T, (r + 1) * T);
        assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5, `row ${r} sums to ${row.reduce((a, b) => a + b, 0)}`);
        assert.ok(row.every((p, j) => (j > i ? p === 0 : p >= 0)), `row ${r}: attention after its query, or negative`);
      }
    }
  });

  it("keeps concept shares within 2^-8, bfloat16's rounding of each weight, of the float32 source checkpoint's", async () => {
    const [bf16, float32] = [await probeMaps(await openCheckpoint(path.join(root, 'bf16'))), await probeMaps(await openCheckpoint(modelDir('base')))];
    const { probes } = await referenceIndex();
    const differences = probes.flatMap((probe, k) => {
      const [ours, theirs] = [sharesOf(bf16[k]!.data, bf16[k]!.dims, probe), sharesOf(float32[k]!.data, float32[k]!.dims, probe)];
      return Array.from(ours, (share, m) => Math.abs(share - theirs[m]!));
    });
    const largest = Math.max(...differences);
    const mean = differences.reduce((a, b) => a + b, 0) / differences.length;
    // measured: largest 1.3e-3, mean 1.4e-4 over the reference probes × 48 heads; float16 stays within 2^-11 the same way
    assert.ok(largest < 2 ** -8 && mean < 2 ** -8 / 5, `largest ${largest}, mean ${mean}`);
    // not the float32 maps themselves: the weights were rounded
    assert.ok(largest > 2 ** -12, `largest ${largest}`);
  });

  it('feeds an export with bfloat16 past key/values an empty float32 past, and gets the same attention', async () => {
    const [withPast, without] = [await probeMaps(await openCheckpoint(path.join(root, 'bf16-with-past'))), await probeMaps(await openCheckpoint(path.join(root, 'bf16')))];
    withPast.forEach((map, k) => assert.ok(maxAbsDifference(map.data, without[k]!.data) < 1e-6, `probe ${k}`));
  });

  it('refuses a session whose widened weights exceed the budget, in one line saying what to do', async () => {
    const checkpoint = await openCheckpoint(path.join(root, 'bf16'));
    await assert.rejects(openAttentionSession(checkpoint, { weightBudgetBytes: 1024 ** 2 }), (error: unknown) => {
      assert.ok(error instanceof LegalAttnError && error.code === 'bad-input');
      assert.equal(
        error.message,
        `${checkpoint.graphFile}: a bfloat16 checkpoint, widened to float32 on the CPU, needs 0.00812 GiB for its weights, more than the budget (0.000977 GiB); run it with --device cuda, or use a float16 or float32 export.`,
      );
      return true;
    });
    // the CUDA path is left as it was: no widening, so no budget (here, without CUDA, refused for the device alone)
    await openAttentionSession(checkpoint, { device: 'cuda', weightBudgetBytes: 1 }).then(
      (session) => session.release(),
      (error: unknown) => assert.doesNotMatch(String(error), /budget/),
    );
  });

  it('inspect says the weights are widened, at twice the bfloat16 file', async () => {
    const dir = path.join(root, 'bf16');
    const file = (await stat(path.join(dir, 'model.onnx_data'))).size;
    const text = await run('inspect', '--model', dir);
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, /^bfloat16 {7}widened to float32 on CPU, 8\.3 MiB of weights in memory$/m);
    const json = JSON.parse((await run('--json', 'inspect', '--model', dir)).out) as { widenedOnCpu: { weightBytes: number }; format: { weightBytes: number; bfloat16Bytes: number } };
    // every weight is bfloat16: the external file, and 13 norm weights of 256 bytes inline (under the exporter's threshold)
    assert.deepEqual([json.format.weightBytes, json.format.bfloat16Bytes], [file + 13 * 256, file + 13 * 256]);
    assert.equal(json.widenedOnCpu.weightBytes, 2 * json.format.weightBytes);
    const float32 = await run('--json', 'inspect', '--model', modelDir('base'));
    assert.equal((JSON.parse(float32.out) as { widenedOnCpu?: unknown }).widenedOnCpu, undefined);
  });
});
