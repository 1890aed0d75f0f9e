import assert from 'node:assert/strict';
import { access, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CUDA_INSTALL_COMMAND } from '../../lib/runtime/session.js';
import { listFiles, modelDir, ROOT, run, temporaryFolder } from '../helpers.js';

/** One line on stderr, the expected exit code, no stack trace. */
function assertOneLine(result: { code: number; err: string }, code: number, message: RegExp): void {
  assert.equal(result.code, code, result.err);
  assert.match(result.err, message);
  assert.equal(result.err.trim().split('\n').length, 1, result.err);
}

const CORES = os.availableParallelism();
const CONCEPT = path.join(ROOT, 'concepts', 'consideration.yaml');

describe('--threads, bounded by the machine', () => {
  const commands: Record<string, (out: string) => string[]> = {
    trace: (out) => ['trace', '--model', modelDir('base'), '--text', 'A [[duty of care]].', '--out', out],
    compare: (out) => ['compare', '--model', `a=${modelDir('base')}`, '--model', `b=${modelDir('cpt')}`, '--concepts', CONCEPT, '--out', out],
    calibrate: (out) => ['calibrate', '--model', `a=${modelDir('base')}`, '--model', `b=${modelDir('cpt')}`, '--concepts', CONCEPT, '--out', out],
    batch: (out) => ['batch', path.join(ROOT, 'examples', 'study.yaml'), '--out-root', out],
  };
  for (const [name, argv] of Object.entries(commands)) {
    it(`${name} refuses --threads 100000 in one line naming the machine's ${CORES} cores, and writes nothing`, async () => {
      const parent = await temporaryFolder();
      const message = new RegExp(`^legal-attn: option '--threads <n>' argument '100000' is invalid\\. --threads must be a whole number from 1 to ${CORES}, the cores of this machine \\(os\\.availableParallelism\\(\\)\\); got 100000\\.\\n$`);
      assertOneLine(await run(...argv(path.join(parent, 'out')), '--threads', '100000'), 2, message);
      assert.deepEqual(await listFiles(parent), []);
    });
  }

  it('is refused the same way from a config file', async () => {
    const config = path.join(await temporaryFolder(), 'legal-attn.config.yaml');
    await writeFile(config, 'threads: 100000\n');
    const out = path.join(await temporaryFolder(), 'out');
    assertOneLine(await run('--config', config, ...commands.trace!(out)), 2, new RegExp(`legal-attn.config.yaml:1: field threads must be at most ${CORES}, the cores of this machine;`));
  });

  it(`takes ${CORES}, the machine's cores`, async () => {
    const result = await run('--quiet', ...commands.trace!(path.join(await temporaryFolder(), 'out')), '--threads', String(CORES), '--maps', 'none');
    assert.equal(result.code, 0, result.err);
  });
});

describe('--json on failure', () => {
  it('prints one JSON object with the message and exit code on stdout, beside the line on stderr', async () => {
    for (const argv of [
      ['--json', 'inspect', '--model', '/nonexistent-checkpoint'],
      ['--json', 'compare', '--modle', `a=${modelDir('base')}`, '--concepts', CONCEPT, '--out', '/tmp/x'],
    ]) {
      const result = await run(...argv);
      assert.equal(result.code, 2);
      const line = /^legal-attn: (.*)\n$/.exec(result.err)?.[1];
      assert.ok(line, result.err);
      assert.deepEqual(JSON.parse(result.out), { error: line, exit: 2 });
      assert.equal(result.out.trim().split('\n').length, 1);
    }
  });

  it('prints nothing on stdout on failure without --json', async () => {
    assert.equal((await run('inspect', '--model', '/nonexistent-checkpoint')).out, '');
  });
});

describe('an unknown option', () => {
  it('is named before a required option it stands in for: compare --modle', async () => {
    const out = path.join(await temporaryFolder(), 'out');
    assertOneLine(await run('compare', '--modle', `a=${modelDir('base')}`, '--modle', `b=${modelDir('cpt')}`, '--concepts', CONCEPT, '--out', out), 2, /^legal-attn: unknown option '--modle' \(Did you mean --model\?\)\n$/);
    assertOneLine(await run('inspect', '--modle', modelDir('base')), 2, /^legal-attn: unknown option '--modle' \(Did you mean --model\?\)\n$/);
  });

  it('leaves a required option that is simply missing to be named as missing', async () => {
    assertOneLine(await run('compare', '--concepts', CONCEPT, '--out', '/tmp/x'), 2, /^legal-attn: required option '-m, --model <name=dir>' not specified\n$/);
  });
});

describe('a cache folder that cannot be written', () => {
  const trace = (out: string) => ['trace', '--model', modelDir('base'), '--text', 'A [[duty of care]].', '--out', out, '--maps', 'none'];
  const advice = /; pass --cache DIR or set LEGAL_ATTN_CACHE=DIR to a folder you can write to\.\n$/;

  it('is named as the cache, with --cache and LEGAL_ATTN_CACHE, and nothing is written', async () => {
    const parent = await temporaryFolder();
    const result = await run('--cache', '/proc/legal-attn-cache', ...trace(path.join(parent, 'out')));
    assertOneLine(result, 2, /^legal-attn: \/proc\/legal-attn-cache \(the cache folder\): cannot create this folder \(.+\)/);
    assert.match(result.err, advice);
    assert.deepEqual(await listFiles(parent), []);
  });

  it('from LEGAL_ATTN_CACHE, and under a file', async () => {
    const file = path.join(await temporaryFolder(), 'a-file');
    await writeFile(file, '');
    const before = process.env.LEGAL_ATTN_CACHE;
    process.env.LEGAL_ATTN_CACHE = path.join(file, 'cache');
    try {
      const result = await run(...trace(path.join(await temporaryFolder(), 'out')));
      assertOneLine(result, 2, new RegExp(`^legal-attn: ${path.join(file, 'cache')} \\(the cache folder\\): cannot create this folder, ${file} is a file`));
      assert.match(result.err, advice);
    } finally {
      process.env.LEGAL_ATTN_CACHE = before;
    }
  });
});

describe('--device cuda without the CUDA provider', () => {
  it("advises the README's command, which runs onnxruntime-node's install script even under ignore-scripts", async () => {
    const result = await run('trace', '--model', modelDir('base'), '--text', 'A [[duty of care]].', '--out', path.join(await temporaryFolder(), 'out'), '--device', 'cuda');
    assert.equal(result.code, 2, result.err);
    const advised = /run `([^`]+)`/.exec(result.err)?.[1];
    const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
    const gpu = readme.slice(readme.indexOf('### GPU'));
    const documented = /```sh\n([^\n]+)\n```/.exec(gpu)?.[1];
    assert.equal(advised, CUDA_INSTALL_COMMAND);
    assert.equal(documented, CUDA_INSTALL_COMMAND);
    await access(path.join(ROOT, CUDA_INSTALL_COMMAND.split(' ').at(-1)!));
  });
});

describe('inspect --length beyond the model', () => {
  it("states the model's own limit and that --length exceeds it", async () => {
    const result = await run('inspect', '--model', modelDir('base'), '--length', '100000');
    assert.equal(result.code, 0, result.err);
    assert.match(result.out, /^max positions {2}1024 \(the longest sequence the model takes\)$/m);
    assert.match(result.out, /^full map {7}1\.7 TiB for one sequence of 100000 tokens \(298\.0 GiB a layer\); but the model stops at 1024 positions, so no sequence of 100000 tokens runs on it$/m);
    const json = JSON.parse((await run('--json', '--quiet', 'inspect', '--model', modelDir('base'), '--length', '100000')).out) as { maxPositions: number; fullMap: { length: number; beyondModel?: boolean } };
    assert.deepEqual([json.maxPositions, json.fullMap.length, json.fullMap.beyondModel], [1024, 100000, true]);
  });

  it('says nothing of the limit within it', async () => {
    const json = JSON.parse((await run('--json', '--quiet', 'inspect', '--model', modelDir('base'))).out) as { fullMap: { length: number; beyondModel?: boolean } };
    assert.deepEqual([json.fullMap.length, json.fullMap.beyondModel], [1024, undefined]);
  });
});
