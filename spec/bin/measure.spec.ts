import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { listFiles, modelDir, ROOT, temporaryFolder, run } from '../helpers.js';

describe('legal-attn measure', () => {
  it('writes, into another folder, results that report turns into a report with the maps of the traces it read', async () => {
    const root = await temporaryFolder();
    const full = path.join(root, 'full');
    const again = path.join(root, 'after-only');
    const concepts = path.join(ROOT, 'concepts', 'consideration.yaml');
    assert.equal((await run('--quiet', 'compare', '--model', `base=${modelDir('base')}`, '--model', `cpt=${modelDir('cpt')}`, '--concepts', concepts, '--out', full, '--maps', 'full', '--no-report')).code, 0);
    const measured = await run('--quiet', 'measure', full, '--out', again, '--query-set', 'after');
    assert.equal(measured.code, 0, measured.err);
    assert.ok((await listFiles(again)).includes(path.join('traces', 'index.json')));
    const report = await run('--quiet', 'report', again);
    assert.equal(report.code, 0, report.err);
    const files = await listFiles(path.join(again, 'report'));
    assert.ok(files.includes(path.join('svg', 'consideration-map-base.svg')), files.join(' '));
    assert.ok(files.includes(path.join('svg', 'consideration-diff-cpt-base.svg')));

    // A damaged result file is named, with its field, in one line.
    await writeFile(path.join(full, 'traces', 'cpt', 'trace.json'), JSON.stringify({ model: { dir: 'x', contentHash: 'y' }, sequences: [] }));
    const damaged = await run('measure', full, '--out', path.join(root, 'again'));
    assert.equal(damaged.code, 2);
    assert.match(damaged.err, /^legal-attn: \S+traces\/cpt\/trace\.json: field maps Invalid option: expected one of "none"\|"mean"\|"full"; trace the model again\.\n$/);
    await writeFile(path.join(full, 'traces', 'base', 'consideration', 'textbook', 'tokens.json'), '{"ids": [1, 2]}');
    await writeFile(path.join(full, 'traces', 'cpt', 'trace.json'), JSON.stringify({ model: { dir: 'x', contentHash: 'y' }, maps: 'full', sequences: [] }));
    const tokens = await run('report', full);
    assert.equal(tokens.code, 2);
    assert.match(tokens.err, /tokens\.json: field spans is missing; run legal-attn compare or trace again\.\n$/);
  });
});
