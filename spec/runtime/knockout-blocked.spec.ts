import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { openCheckpoint } from '../../lib/checkpoint/checkpoint.js';
import { decodeModel } from '../../lib/onnx/model.js';
import { knockoutGraph } from '../../lib/rewrite/knockout-graph.js';
import { synthCheckpoint } from '../../lib/synth/synth-checkpoint.js';
import { loadTokenizer } from '../../lib/tokenize/tokenizer.js';
import { makeExports, NO_PYTHON_ONNX } from '../checkpoint/exports.js';
import { modelDir, temporaryFolder } from '../helpers.js';
import { knockouts, largestDifference, streamOf, TEXT } from './knockout-passes.js';


describe('a knockout pass in blocks of queries', function () {
  this.timeout(300_000);
  let ids = new BigInt64Array();
  before(async () => {
    ids = BigInt64Array.from((await (await loadTokenizer(modelDir('base'))).encode(TEXT)).ids);
  });

  const cases: Array<[string, () => Promise<string>]> = [
    ['tiny-legal-base (TorchScript)', async () => modelDir('base')],
    ['tiny-legal-base-dynamo', async () => modelDir('base-dynamo')],
    ['a synthetic model with a sliding window of 6', async () => synthCheckpoint(path.join(await temporaryFolder(), 'window'), { layers: 3, heads: 8, kvHeads: 2, hidden: 128, vocab: 4096, slidingWindow: 6 })],
  ];
  for (const [name, dir] of cases) {
    it(`of ${name} gives the whole layers' log-probs and cosines (1e-5), in blocks of 3, 4 and more than T rows`, async () => {
      const checkpoint = await openCheckpoint(await dir());
      const T = ids.length;
      const whole = await knockouts(checkpoint, ids);
      for (const blockRows of [3, 4, 64]) {
        const blocked = await knockouts(checkpoint, ids, blockRows);
        assert.deepEqual([blocked.rows, blocked.length], [whole.rows, whole.length]);
        const logprob = largestDifference(blocked.logprob, whole.logprob, T);
        const cosine = largestDifference(blocked.cosine, whole.cosine, T);
        assert.ok(logprob < 1e-5 && cosine < 1e-5, `blocks of ${blockRows}: log-probs differ by ${logprob}, cosines by ${cosine}`);
      }
      // and each knockout moves the log-probs by far more than that
      for (let r = 1; r < whole.rows; r++) {
        const change = largestDifference(whole.logprob.subarray(r * T, (r + 1) * T), whole.logprob.subarray(0, T), T);
        assert.ok(change > 1e-3, `row ${r} changes the log-probs by only ${change}`);
      }
    });
  }

  it('of the formats other tools write gives their whole layers\' numbers, half precision within its rounding', async function () {
    const folder = await makeExports('base');
    if (!folder) {
      if (process.env.CI) throw new Error(NO_PYTHON_ONNX);
      console.warn(`  skipped: ${NO_PYTHON_ONNX}`);
      this.skip();
    }
    const T = ids.length;
    // fp16 rounds each product of the block as it rounds the whole layer's, not bit for bit alike
    for (const [format, tolerance] of [['with-past', 1e-5], ['bf16', 1e-5], ['fp16', 0.01]] as const) {
      const checkpoint = await openCheckpoint(path.join(folder, format));
      const [whole, blocked] = [await knockouts(checkpoint, ids), await knockouts(checkpoint, ids, 4)];
      const logprob = largestDifference(blocked.logprob, whole.logprob, T);
      const cosine = largestDifference(blocked.cosine, whole.cosine, T);
      assert.ok(logprob < tolerance && cosine < tolerance, `${format}: log-probs differ by ${logprob}, cosines by ${cosine}`);
    }
  });

  it('runs every layer as a loop, with no Softmax, no whole mask of the export and no [rows, 1, T, T] knockout mask outside the loops', async () => {
    const checkpoint = await openCheckpoint(modelDir('base'));
    const original = decodeModel(await readFile(checkpoint.graphFile)).graph!;
    const softmax = original.node!.find((n) => n.opType === 'Softmax')!;
    const mask = original.node!.find((n) => n.output?.[0] === softmax.input![0])!.input![1]!;
    const edited = decodeModel(knockoutGraph(await readFile(checkpoint.graphFile), checkpoint.graph.attention, await streamOf(checkpoint), checkpoint.graphFile, { embeddingRows: checkpoint.graph.embeddingRows, blockRows: 8 })).graph!;
    const loops = edited.node!.filter((n) => n.opType === 'Loop');
    assert.equal(loops.length, checkpoint.graph.attention.length);
    assert.equal(edited.node!.filter((n) => n.opType === 'Softmax').length, 0);
    assert.deepEqual(edited.node!.filter((n) => n.output?.includes(mask)).map((n) => n.opType), [], "the export's whole mask is made");
    assert.deepEqual(edited.node!.filter((n) => n.output?.some((o) => o.startsWith('legal_attn.knockout_blocked'))).map((n) => n.name), [], 'a whole knockout mask is made');
    // inside each loop: the Where on the block's scores, right before its Softmax
    for (const loop of loops) {
      const body = loop.attribute![0]!.g!.node!;
      const softmaxIn = body.find((n) => n.opType === 'Softmax')!.input![0]!;
      assert.equal(body.find((n) => n.output?.[0] === softmaxIn)?.opType, 'Where');
    }
  });
});
