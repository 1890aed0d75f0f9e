import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../../bin/cli.js';
import { loadManifest } from '../../lib/options/manifest.js';
import { CONFIG_FILE_OPTIONS, loadConfig } from '../../lib/options/config.js';
import { LegalAttnError } from '../../lib/errors.js';
import { OPTIONS, optionFields, optionValue, parseOptionArgument, type OptionName } from '../../lib/options/option-table.js';
import { captureIo, temporaryFolder } from '../helpers.js';

describe('options, declared once', () => {
  it('parse a command-line argument to the value the config file and manifests take, and refuse the same values', () => {
    const cases: Array<[OptionName, string, unknown, string]> = [
      ['alpha', '0.01', 0.01, '1.5'],
      ['seed', '7', 7, '-1'],
      ['controls', '50', 50, '0'],
      ['querySets', 'all,after', ['all', 'after'], 'all,before'],
      ['mapLayers', '0,5', [0, 5], '1,x'],
    ];
    for (const [name, good, value, bad] of cases) {
      const field = optionFields([name])[OPTIONS[name].key]!;
      assert.deepEqual(parseOptionArgument(name, good), { value });
      assert.ok(field.safeParse(value).success, name);
      assert.ok('problem' in parseOptionArgument(name, bad), name);
    }
    assert.deepEqual(parseOptionArgument('alpha', '1.5'), { problem: '--alpha must lie between 0 and 1; got 1.5' });
    assert.deepEqual(parseOptionArgument('pairs', ' '), { problem: '--pairs is empty; it must be pairs AFTER:BEFORE, comma-separated' });
    assert.deepEqual(parseOptionArgument('querySets', 'all,before'), { problem: '"before" is not a query set; choose from all, after, outside' });
    assert.equal(optionFields(['alpha']).alpha!.safeParse(1.5).success, false);
  });

  it('give library callers the same defaults and the same refusals (optionValue)', () => {
    assert.equal(optionValue('alpha', undefined), 0.05);
    assert.equal(optionValue('controls', 50), 50);
    assert.throws(() => optionValue('seed', -1), (e: unknown) => e instanceof LegalAttnError && e.message === '--seed must be a whole number from 0 to 4294967295; got -1.');
  });

  it('have one name as flag, config key and manifest key: alpha 1.5 is refused by all three', async () => {
    const dir = await temporaryFolder();
    const io = captureIo();
    assert.equal(await runCli(['compare', '--model', 'a=x', '--model', 'b=y', '--concepts', 'c', '--out', path.join(dir, 'o'), '--alpha', '1.5'], io), 2);
    assert.match(io.err, /--alpha must lie between 0 and 1; got 1\.5/);
    await writeFile(path.join(dir, 'legal-attn.config.yaml'), 'alpha: 1.5\n');
    await assert.rejects(loadConfig(path.join(dir, 'legal-attn.config.yaml')), (e: unknown) => e instanceof LegalAttnError && /:1: field alpha Too big/.test(e.message));
    await mkdir(path.join(dir, 'm'));
    await writeFile(path.join(dir, 'study.yaml'), 'models:\n  a: m\n  b: m\nruns:\n  - name: r\n    models: [a, b]\n    concepts: c\n    out: o\n    alpha: 1.5\n');
    await assert.rejects(loadManifest(path.join(dir, 'study.yaml')), (e: unknown) => e instanceof LegalAttnError && /:9: field runs\[0\]\.alpha Too big/.test(e.message));
    // every option a config file sets is a flag of the same name
    for (const name of CONFIG_FILE_OPTIONS) assert.match(OPTIONS[name].key, /^[a-z]+(-[a-z]+)*$/);
  });
});
