import assert from 'node:assert/strict';
import { readFile, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../../bin/cli.js';
import { loadManifest } from '../../lib/batch/manifest.js';
import { captureIo, listFiles, modelDir, ROOT, temporaryFolder } from '../helpers.js';
import { alteredCheckpoint } from './checkpoints.js';

const run = async (...argv: string[]) => {
  const io = captureIo();
  const code = await runCli(argv, io);
  return { code, out: io.out, err: io.err };
};

/** One line on stderr, the expected exit code, no stack trace. */
function assertOneLine(result: { code: number; err: string }, code: number, message: RegExp): void {
  assert.equal(result.code, code, result.err);
  assert.match(result.err, message);
  assert.equal(result.err.trim().split('\n').length, 1, result.err);
  assert.doesNotMatch(result.err, /\n\s+at /);
}

const traceText = (model: string, out: string) => ['trace', '--model', model, '--text', 'A duty of care.', '--out', out];

describe('output folders a command cannot write', () => {
  it('under /proc: one line and exit 2 at once, where creating the folder used to spin forever', async () => {
    for (const argv of [traceText(modelDir('base'), '/proc/legal-attn-x/y'), ['synth', '--out', '/proc/legal-attn-x', '--layers', '1', '--heads', '2', '--kv-heads', '1', '--hidden', '16']]) {
      assertOneLine(await run(...argv), 2, /^legal-attn: \/proc\/legal-attn-x\S*: cannot create this folder \(.+\); choose an output folder you can write to\.\n$/);
    }
  });

  it('an existing file as --out: one line naming it, exit 2, the file untouched', async () => {
    const file = path.join(await temporaryFolder(), 'results');
    await writeFile(file, 'keep me');
    assertOneLine(await run(...traceText(modelDir('base'), file)), 2, /: cannot create this folder, \S+results is a file; choose another output folder\.\n$/);
    assert.equal(await readFile(file, 'utf8'), 'keep me');
  });
});

describe('damaged checkpoint files', () => {
  it('a truncated model.onnx_data is named, with its size and the size the graph needs', async () => {
    const checkpoint = await alteredCheckpoint({});
    await truncate(path.join(checkpoint, 'model.onnx_data'), 1000);
    const out = path.join(await temporaryFolder(), 'out');
    assertOneLine(await run(...traceText(checkpoint, out)), 2, /model\.onnx_data: truncated \(1000 bytes, where \S+model\.onnx reads \d+\); copy or download it again\.\n$/);
    assert.deepEqual(await listFiles(path.dirname(out)), []);
  });

  it('a tokenizer.json that is not JSON is named as such', async () => {
    const checkpoint = await alteredCheckpoint({});
    await writeFile(path.join(checkpoint, 'tokenizer.json'), '{"model": ');
    const out = path.join(await temporaryFolder(), 'out');
    assertOneLine(await run(...traceText(checkpoint, out)), 2, /tokenizer\.json: not JSON \(.+\); copy the model's tokenizer\.json again/);
  });
});

describe('trace --text', () => {
  it('reads the [[ ]] markup of concept files and records the span', async () => {
    const out = path.join(await temporaryFolder(), 'out');
    const result = await run('--quiet', 'trace', '--model', modelDir('base'), '--text', 'The [[duty of care]] was owed.', '--out', out, '--maps', 'none');
    assert.equal(result.code, 0, result.err);
    const tokens = JSON.parse(await readFile(path.join(out, 'tokens.json'), 'utf8')) as { text: string; tokens: string[]; conceptTokens: number[] };
    assert.equal(tokens.text, 'The duty of care was owed.');
    assert.equal(tokens.conceptTokens.map((t) => tokens.tokens[t]!).join('').replaceAll('▁', ' ').trim(), 'duty of care');
  });
});

describe('batch manifests', () => {
  it('without models: names the missing field on its line', async () => {
    const file = path.join(await temporaryFolder(), 'study.yaml');
    await writeFile(file, 'runs:\n  - name: a\n    models: [base, cpt]\n    concepts: concepts\n    out: a\n');
    assertOneLine(await run('batch', file), 2, /study\.yaml:1: field models is missing \(expected record\); see "legal-attn batch" in the README/);
  });
});

describe('the example study', () => {
  it('examples/study.yaml is a manifest whose runs, models and concepts all resolve', async () => {
    const manifest = await loadManifest(path.join(ROOT, 'examples', 'study.yaml'));
    assert.deepEqual(manifest.runs.map((r) => [r.name, r.models.map((m) => path.relative(ROOT, m.dir))]), [
      ['consideration', ['models/tiny-legal-base', 'models/tiny-legal-cpt', 'models/tiny-legal-ift']],
      ['whole-library-no-sink', ['models/tiny-legal-base', 'models/tiny-legal-ift']],
    ]);
    for (const run of manifest.runs) assert.ok((await stat(run.concepts)).isFile() || (await stat(run.concepts)).isDirectory());
  });
});
