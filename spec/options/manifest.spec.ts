import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadManifest, parseShard, shardRuns } from '../../lib/options/manifest.js';
import { LegalAttnError } from '../../lib/errors.js';
import { temporaryFolder } from '../helpers.js';

const MANIFEST = `models:
  base: m/base
  cpt: m/cpt
runs:
  - name: one
    models: [base, cpt]
    concepts: concepts
    out: out/one
  - name: two
    models: [base, cpt]
    concepts: concepts
    out: out/two
    pairs: [cpt:base]
`;

async function manifestFile(text: string): Promise<string> {
  const file = path.join(await temporaryFolder(), 'study.yaml');
  await writeFile(file, text);
  return file;
}

const rejects = (text: string, message: RegExp) => async () =>
  assert.rejects(loadManifest(await manifestFile(text)), (e: unknown) => e instanceof LegalAttnError && e.code === 'bad-input' && message.test(e.message));

describe('loadManifest', () => {
  it('resolves model folders and concept paths against the manifest, applying defaults', async () => {
    const file = await manifestFile(`defaults:\n  seed: 9\n  representations: false\n${MANIFEST}`);
    const manifest = await loadManifest(file);
    assert.equal(manifest.runs.length, 2);
    assert.equal(manifest.runs[0]!.models[1]!.dir, path.join(path.dirname(file), 'm/cpt'));
    assert.equal(manifest.runs[1]!.seed, 9);
    assert.equal(manifest.runs[1]!.pairs, 'cpt:base');
    assert.equal(manifest.runs[0]!.representations, false);
  });
  it('names the line of a run that uses an unknown model', rejects(MANIFEST.replace('models: [base, cpt]\n    concepts: concepts\n    out: out/two', 'models: [base, ift]\n    concepts: concepts\n    out: out/two'), /study\.yaml:10: run two names model ift, which is not under models \(base, cpt\)/));
  it('refuses two runs writing to one folder', rejects(MANIFEST.replace('out/two', 'out/one'), /study\.yaml:\d+: runs one and two both write to out\/one/));
  it('refuses a pair naming a model outside the run', rejects(MANIFEST.replace('[cpt:base]', '[ift:base]'), /pair ift:base of run two names ift/));
  it('refuses an unknown field with its line', rejects(MANIFEST.replace('    out: out/one', '    out: out/one\n    seeds: 3'), /study\.yaml:9: field runs\[0\]\.seeds is not a known field/));
  it('refuses a run with one model', rejects(MANIFEST.replace('models: [base, cpt]\n    concepts: concepts\n    out: out/one', 'models: [base]\n    concepts: concepts\n    out: out/one'), /field runs\[0\]\.models must name at least two models/));
});

describe('shards', () => {
  it('give every run to exactly one of N slices', async () => {
    const runs = Array.from({ length: 5 }, (_, index) => ({ index, name: `r${index}`, models: [], concepts: '', out: '', line: 1 }));
    const slices = [1, 2, 3].map((k) => shardRuns(runs, parseShard(`${k}/3`)).map((r) => r.index));
    assert.deepEqual(slices, [[0, 3], [1, 4], [2]]);
  });
  it('are written K/N with 1 ≤ K ≤ N', () => {
    assert.throws(() => parseShard('0/2'), /--shard 0\/2: write K\/N/);
    assert.throws(() => parseShard('3/2'), /--shard 3\/2/);
  });
});
