import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openCheckpoint, type Checkpoint } from '../../lib/checkpoint/checkpoint.js';
import { compareCheckpoints } from '../../lib/commands/compare.js';
import { readKnockout, readKnockoutRows } from '../../lib/knockout/capture.js';
import { chunks } from '../../lib/knockout/rows.js';
import { checkKnockoutFits, knockoutBlockRows, knockoutRowBytes } from '../../lib/runtime/knockout-memory.js';
import { openKnockoutSession, spanKnockout } from '../../lib/runtime/knockout-session.js';
import { residualStreamOf } from '../../lib/runtime/states-session.js';
import { synthCheckpoint } from '../../lib/synth/synth-checkpoint.js';
import { loadConcepts } from '../../lib/concepts/load-concepts.js';
import { planConceptSequences } from '../../lib/plan/planned-sequence.js';
import { listFiles, modelDir, ROOT, run, temporaryFolder } from '../helpers.js';

const GIB = 1024 ** 3;

/** tiny-legal-base as if it had Mistral-7B's shape (32 heads, hidden 4096, vocabulary 32,000), its attention decomposed or fused. */
async function sevenB(fused: boolean): Promise<Checkpoint> {
  const tiny = await openCheckpoint(modelDir('base'));
  const attention = tiny.graph.attention.map((site) => (fused ? { ...site, fused: { query: site.output } as NonNullable<typeof site.fused> } : site));
  return { ...tiny, shape: { ...tiny.shape, heads: 32, hiddenSize: 4096, vocabSize: 32000 }, graph: { ...tiny.graph, embeddingRows: 32000, attention } };
}

describe('the memory of a knockout pass', () => {
  it('at 7B and 8,192 tokens: about 3 GiB a row in blocks of 128 queries; fused kernels are never blocked, 26 GiB a row with their bias', async () => {
    const [decomposed, fused] = [await sevenB(false), await sevenB(true)];
    assert.equal(knockoutBlockRows(decomposed, 8192, 2 * GIB), 128);
    assert.equal(knockoutBlockRows(fused, 8192, 2 * GIB), undefined);
    // 4 × 8192 × (32,000 logits + 8 × 32 × 128 in the loop + 8 × 4096)
    assert.equal(knockoutRowBytes(decomposed, 8192, 128), 4 * 8192 * (32000 + 32768 + 32768));
    // 4 × 8192 × (32,000 + 3 × 32 × 8192 scores + 8192 bias + 8 × 4096)
    assert.equal(knockoutRowBytes(fused, 8192, undefined), 4 * 8192 * (32000 + 786432 + 8192 + 32768));
  });

  it('refuses a budget that holds no knocked-out row beside its baseline, and names the least that does', async () => {
    const [decomposed, fused] = [await sevenB(false), await sevenB(true)];
    const sequences = [{ dir: 'hearsay/short', length: 512 }, { dir: 'hearsay/long', length: 8192 }];
    assert.throws(
      () => checkKnockoutFits(decomposed, sequences, 2 * GIB),
      (error: Error) => error.message === '--max-memory-gb 2: attention knockout of hearsay/long (8192 tokens, attention in blocks of 128 queries) needs about 3 GiB a row, 6 GiB for one knocked-out row beside its baseline; raise --max-memory-gb to 6 or more, or drop --knockout.',
    );
    assert.doesNotThrow(() => checkKnockoutFits(decomposed, sequences, 6 * GIB));
    assert.throws(() => checkKnockoutFits(fused, sequences, 6 * GIB), /hearsay\/long \(8192 tokens, whole layers\) needs about 26 GiB a row, 52 GiB for one knocked-out row beside its baseline; raise --max-memory-gb to 53 or more/);
    assert.doesNotThrow(() => checkKnockoutFits(fused, sequences.slice(0, 1), 6 * GIB));
  });

  it('compare --knockout under a --max-memory-gb too small for one row fails in one line before any model runs, and leaves no output folder', async function () {
    this.timeout(300_000);
    const root = await temporaryFolder();
    const concepts = path.join(root, 'concepts');
    await mkdir(concepts);
    await copyFile(path.join(ROOT, 'concepts', 'hearsay.yaml'), path.join(concepts, 'hearsay.yaml'));
    const [out, cache] = [path.join(root, 'out'), path.join(root, 'cache')];
    const ran = await run('--cache', cache, 'compare', '-m', `base=${modelDir('base')}`, '-m', `cpt=${modelDir('cpt')}`, '-c', concepts, '-o', out, '--knockout', '--max-memory-gb', '0.001', '--no-report');
    assert.equal(ran.code, 2, ran.err);
    assert.equal(ran.err.trim().split('\n').length, 1, ran.err);
    assert.match(ran.err, /^legal-attn: --max-memory-gb 0\.001: attention knockout of hearsay\/[\w-]+ \(\d+ tokens, whole layers\) needs about [\d.]+ GiB a row, [\d.]+ GiB for one knocked-out row beside its baseline; raise --max-memory-gb to [\d.]+ or more, or drop --knockout\.$/m);
    assert.deepEqual(await listFiles(out), []);
    // no graph was rewritten and no pass was run or cached
    assert.deepEqual((await listFiles(cache)).filter((f) => f.endsWith('.onnx') || f.includes('passes')), []);
  });

  it('compare --knockout on a long text runs the knockout in blocks, as the measures run attention, with the values of whole layers (1e-5)', async function () {
    this.timeout(900_000);
    const root = await temporaryFolder();
    const concepts = path.join(root, 'concepts');
    await mkdir(concepts);
    // about 400 tokens: 64 heads × 400² × 4 bytes of scores pass the 32 MiB that run whole
    const text = `The letter was [[hearsay]], since it was tendered to prove that its contents were true. ${'The court asked whether the rule reached the statement before it, and held that it did. '.repeat(22)}`;
    await writeFile(path.join(concepts, 'hearsay.yaml'), `id: hearsay\nname: Hearsay\narea: evidence\nsequences:\n  - id: long\n    text: ${JSON.stringify(text.trim())}\n`);
    const shape = { layers: 2, heads: 64, kvHeads: 16, hidden: 128, vocab: 4096 };
    const models = [{ name: 'a', dir: await synthCheckpoint(path.join(root, 'a'), { ...shape, seed: 1 }) }, { name: 'b', dir: await synthCheckpoint(path.join(root, 'b'), { ...shape, seed: 2 }) }];
    const [out, cache] = [path.join(root, 'out'), path.join(root, 'cache')];
    await compareCheckpoints({ models, concepts, out, cacheDir: cache, representations: false, knockout: true, controls: 2 });
    // the text as compare tokenized it
    const checkpoint = await openCheckpoint(models[0]!.dir);
    const [planned] = await planConceptSequences(checkpoint, await loadConcepts(concepts));
    const ids = planned!.aligned.ids;
    const T = ids.length;
    assert.ok(T > 380 && T < 600, `${T} tokens`);
    const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as { options: { attentionBlockRows: unknown } };
    assert.deepEqual(summary.options.attentionBlockRows, { a: 128, b: 128 });
    assert.equal((await listFiles(cache)).filter((f) => f.endsWith('knockout-v2-blocks-128.onnx')).length, 2);
    // model a's rows again, as whole layers, a few rows a run
    const dir = path.join(out, 'traces', 'a', 'hearsay', 'long');
    const rows = (await readKnockoutRows(dir))!;
    const stored = await readKnockout(dir, rows);
    const stream = await residualStreamOf(checkpoint);
    if (typeof stream === 'string') throw new Error(stream);
    const session = await openKnockoutSession(checkpoint, stream);
    let next = 1;
    let largest = 0;
    try {
      for (const batch of chunks(rows.slice(1), 1, 5)) {
        const pass = await session.run(ids, batch.map((row) => spanKnockout(T, row.tokens, session.layers, row.layer === undefined ? 'all' : [row.layer])));
        for (let k = T; k < pass.rows * T; k++) {
          if (k % T === T - 1) continue;
          largest = Math.max(largest, Math.abs(pass.logprob[k]! - stored.logprob[(next - 1) * T + k]!), Math.abs(pass.cosine[k]! - stored.cosine[(next - 1) * T + k]!));
        }
        next += batch.length;
      }
    } finally {
      await session.release();
    }
    assert.deepEqual([next, stored.length], [rows.length, T]);
    assert.ok(largest < 1e-5, `blocks and whole layers differ by ${largest}`);
  });
});
