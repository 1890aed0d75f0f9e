import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { modelDir, ROOT, run, temporaryFolder } from '../helpers.js';

interface Verdict {
  family: string;
  conceptsBeatingChance: number;
  concepts: number;
  nullCounts: number[];
  empiricalP: number;
}

interface Calibration {
  verdicts: Verdict[];
  observed: { knockout?: Record<string, Record<string, number>>; value?: Record<string, Record<string, number>> };
  nulls: Array<{ knockout?: Record<string, Record<string, number>> }>;
}

/** Few concepts, for a short run: knockout's null (words recurring as a term does) has enough words at 2 to 4 sequences; attention's may not. */
const CONCEPTS = ['hearsay', 'consideration', 'mens-rea', 'easement', 'negligence', 'offer', 'promissory-estoppel', 'nuisance'];

describe('calibrate with every lens', function () {
  this.timeout(1_200_000);

  it('sets the pair beside its copies for the value-weighted share and for each knockout measure, counted per concept', async () => {
    const root = await temporaryFolder();
    const concepts = path.join(root, 'concepts');
    await mkdir(concepts);
    for (const id of CONCEPTS) await copyFile(path.join(ROOT, 'concepts', `${id}.yaml`), path.join(concepts, `${id}.yaml`));
    const out = path.join(root, 'calibrated');
    const result = await run('--json', 'calibrate', '-m', `base=${modelDir('base')}`, '-m', `cpt=${modelDir('cpt')}`, '-c', concepts, '-o', out, '--copies', '1', '--no-representations', '--knockout', '--knockout-controls', '4', '--cache', path.join(root, 'cache'));
    assert.equal(result.code, 0, result.err);
    const written = JSON.parse(await readFile(path.join(out, 'calibration.json'), 'utf8')) as Calibration;
    const families = written.verdicts.map((v) => v.family);
    assert.deepEqual(
      families.filter((f) => !f.startsWith('attention')),
      ['value-weighted all/include', 'knockout loglik', 'knockout state'],
    );
    // the pair's own comparison says which concepts each knockout measure could test
    const pair = JSON.parse(await readFile(path.join(out, 'pair', 'summary.json'), 'utf8')) as { knockout: { changes: Array<{ measure: string; model: string; scope: string; pValue?: number[] }> } };
    const tested = (measure: string): number => pair.knockout.changes.filter((c) => c.model === 'cpt:base' && c.measure === measure && c.scope !== '*' && c.pValue).length;
    assert.ok(tested('loglik') >= 1, `${tested('loglik')} concepts tested`);
    for (const verdict of written.verdicts) {
      assert.equal(verdict.nullCounts.length, 1);
      assert.equal(verdict.empiricalP, (1 + verdict.nullCounts.filter((c) => c >= verdict.conceptsBeatingChance).length) / 2);
    }
    // a concept's one layer set is one test per measure, in the pair and in the copy
    for (const measure of ['loglik', 'state']) {
      assert.equal(written.verdicts.find((v) => v.family === `knockout ${measure}`)!.concepts, tested(measure));
      assert.equal(written.observed.knockout![measure]!.tests, tested(measure));
      assert.ok((written.nulls[0]?.knockout?.[measure]?.tests ?? 0) >= 1);
    }
  });
});
