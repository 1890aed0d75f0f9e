import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { loadConcepts } from '../../lib/concepts/load-concepts.js';
import { captureStates } from '../../lib/represent/capture.js';
import { storedStateSequences } from '../../lib/represent/stored-states.js';
import { measureRepresentations } from '../../lib/represent/representations.js';
import { compareCheckpoints } from '../../lib/commands/compare.js';
import { measureResults } from '../../lib/commands/measure.js';
import { exclusiveTokens } from '../../lib/synth/plant.js';
import { synthCheckpoint } from '../../lib/synth/synth-checkpoint.js';
import { openCheckpoint } from '../../lib/checkpoint/checkpoint.js';
import { residualStreamOf } from '../../lib/runtime/states-session.js';
import { loadTokenizer } from '../../lib/tokenize/tokenizer.js';
import { modelDir, ROOT, temporaryFolder } from '../helpers.js';
import { planConceptSequences } from '../../lib/plan/planned-sequence.js';
import { planReferences } from '../../lib/plan/plan-references.js';

const CONCEPTS = ['hearsay', 'consideration', 'mens-rea', 'easement', 'negligence', 'offer'];
const REFERENCES = { controlsPerWidth: 32, seed: 1 };

/** A folder with a few of the shipped concept files. */
async function someConcepts(): Promise<string> {
  const dir = path.join(await temporaryFolder(), 'concepts');
  await mkdir(dir);
  for (const id of CONCEPTS) await copyFile(path.join(ROOT, 'concepts', `${id}.yaml`), path.join(dir, `${id}.yaml`));
  return dir;
}

describe('representation measures', function () {
  this.timeout(600_000);
  let concepts = '';
  before(async () => {
    concepts = await someConcepts();
  });

  it('between a checkpoint and itself: no change anywhere and CKA 1 on the diagonal', async () => {
    const checkpoint = await openCheckpoint(modelDir('cpt'));
    const loaded = await loadConcepts(concepts);
    const planned = await planConceptSequences(checkpoint, loaded);
    const references = await planReferences(planned, checkpoint, REFERENCES);
    const stream = await residualStreamOf(checkpoint);
    assert.ok(typeof stream !== 'string');
    const traces = path.join(await temporaryFolder(), 'traces');
    // the same weights captured twice, as two models
    for (const name of ['before', 'after']) await captureStates(checkpoint, stream, planned, path.join(traces, name), {});
    const sequences = planned.map((p) => ({ dir: p.dir, concept: p.concept!.id, sequence: p.sequenceId!, ...(p.paraphraseOf ? { paraphraseOf: p.paraphraseOf } : {}) }));
    const stored = await storedStateSequences(sequences, ['before', 'after'].map((name) => ({ name, folder: path.join(traces, name) })));
    const results = await measureRepresentations(stored!, ['before', 'after'], [{ after: 'after', before: 'before' }], loaded.map((c) => ({ id: c.id, area: c.area })), { references, seed: 1, alpha: 0.05 });
    assert.equal(results.states, 7);
    for (const change of results.changes) for (const value of [...change.concept, ...change.control]) assert.ok(Math.abs(value) < 1e-6, `${change.scope}: ${value}`);
    // no change at all is a tie everywhere: nothing beats chance, and no p is below 1
    for (const change of results.changes.filter((c) => c.pValue)) assert.deepEqual([change.layersBeatingChance, Math.min(...change.pValue!)], [0, 1], change.scope);
    const [cka] = results.cka;
    for (const matrix of [cka!.concepts, cka!.tokens]) matrix.forEach((row, l) => assert.ok(Math.abs(row[l]! - 1) < 1e-6, `layer ${l}: ${row[l]}`));
    // and states further apart are less alike: embeddings against the last layer
    assert.ok(cka!.tokens[0]![6]! < 0.9);
  });

  it('a change planted on some concepts\' own tokens shows at those concepts, well above their controls, and the others do not change at all', async () => {
    const root = await temporaryFolder();
    const loaded = await loadConcepts(concepts);
    const chosen = new Set(['hearsay', 'easement']);
    const tokenizer = await loadTokenizer(modelDir('base'));
    const { tokens, planted } = await exclusiveTokens(tokenizer, loaded, chosen);
    assert.deepEqual([...planted].sort(), ['easement', 'hearsay']);
    const shape = { layers: 2, heads: 4, kvHeads: 2, hidden: 64, vocab: 4096, seed: 1 };
    const before = await synthCheckpoint(path.join(root, 'before'), shape);
    const after = await synthCheckpoint(path.join(root, 'after'), { ...shape, plant: { tokens, scale: 0.5, seed: 7 } });
    const out = path.join(root, 'out');
    const summary = await compareCheckpoints({ models: [{ name: 'before', dir: before }, { name: 'after', dir: after }], concepts, out, cacheDir: path.join(root, 'cache') });
    const results = summary.representations;
    assert.ok(results && !('skipped' in results));
    for (const change of results.changes.filter((c) => c.scope !== '*')) {
      if (planted.has(change.scope)) {
        // the controls are runs of the concept's class that hold no planted token: at the embeddings they did not change at all
        assert.ok(change.concept[0]! > 0.05, `${change.scope}: ${change.concept[0]}`);
        assert.ok(change.concept[0]! > 5 * change.control[0]!, `${change.scope}: ${change.concept[0]} vs ${change.control[0]}`);
        change.concept.forEach((value, l) => assert.ok(value > 2 * change.control[l]!, `${change.scope}, state ${l}: ${value} vs ${change.control[l]}`));
      } else {
        // texts without a planted token run exactly as before
        for (const value of change.concept) assert.ok(Math.abs(value) < 1e-6, `${change.scope}: ${value}`);
      }
    }
    // written where Python reads it
    const rows = parse<Record<string, string>>(await readFile(path.join(out, 'representations.csv'), 'utf8'), { columns: true });
    const hearsay = rows.filter((r) => r.measure === 'change' && r.scope === 'hearsay');
    assert.equal(hearsay.length, 3);
    assert.equal(Number(hearsay[0]!.value), results.changes.find((c) => c.scope === 'hearsay')!.concept[0]);
    const json = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as { representations: { definitions: Record<string, string>; states: number } };
    assert.equal(json.representations.states, 3);
    assert.match(json.representations.definitions.change!, /1 − cos/);
  });

  it('measured in the graph, in whole layers or in blocks of queries, the states are those of a pass of their own (--maps full)', async () => {
    const root = await temporaryFolder();
    const models = [{ name: 'base', dir: modelDir('base') }, { name: 'cpt', dir: modelDir('cpt') }];
    const run = async (out: string, options: { maps: 'mean' | 'full'; maxMemoryBytes?: number }): Promise<Array<Record<string, string>>> => {
      await compareCheckpoints({ models, concepts, out: path.join(root, out), cacheDir: path.join(root, 'cache'), ...options });
      return parse<Record<string, string>>(await readFile(path.join(root, out, 'representations.csv'), 'utf8'), { columns: true });
    };
    const own = await run('full', { maps: 'full' });
    // a budget that leaves blocks of 16 queries
    const variants = [await run('whole', { maps: 'mean' }), await run('blocked', { maps: 'mean', maxMemoryBytes: 64 * 1024 })];
    for (const rows of variants) {
      assert.equal(rows.length, own.length);
      rows.forEach((row, k) => {
        for (const column of ['value', 'control']) {
          if (row[column] === '') continue;
          assert.ok(Math.abs(Number(row[column]) - Number(own[k]![column])) < 1e-5, `${row.measure} ${row.scope} ${row.layer}: ${row[column]} vs ${own[k]![column]}`);
        }
      });
    }
    const summary = JSON.parse(await readFile(path.join(root, 'blocked', 'summary.json'), 'utf8')) as { options: { attentionBlockRows: Record<string, number | null> } };
    assert.equal(summary.options.attentionBlockRows.base, 16);
    // and measure, without the models, takes the states compare kept
    await measureResults(path.join(root, 'full'), { out: path.join(root, 'measured') });
    assert.equal(await readFile(path.join(root, 'measured', 'representations.csv'), 'utf8'), await readFile(path.join(root, 'full', 'representations.csv'), 'utf8'));
  });

  it('compare --no-representations writes none, and says so in summary.json', async () => {
    const root = await temporaryFolder();
    const out = path.join(root, 'out');
    const summary = await compareCheckpoints({ models: [{ name: 'base', dir: modelDir('base') }, { name: 'cpt', dir: modelDir('cpt') }], concepts, out, representations: false, cacheDir: path.join(root, 'cache') });
    assert.equal(summary.representations, undefined);
    assert.ok(!summary.files.includes('representations.csv'));
    const json = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as { representations: unknown };
    assert.equal(json.representations, null);
  });
});
