import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFile, readFile, readdir, truncate, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../../bin/cli.js';
import { sharedPasses } from '../../lib/commands/batch.js';
import type { BatchRun } from '../../lib/options/manifest.js';
import { ROOT, captureIo, listFiles, modelDir, temporaryFolder } from '../helpers.js';
import { RESULT_FILES, twoSetManifest } from './batch-fixtures.js';
import { type BatchSummary } from '../../lib/results/batch-summary.js';
import { prepareCompare, type PreparedCompare } from '../../lib/plan/compare-plan.js';
import { type CompareRequest } from '../../lib/options/run-options.js';

const BIN = path.join(ROOT, 'dist', 'bin', 'legal-attn.js');

async function batch(manifest: string, root: string, cache: string, ...extra: string[]): Promise<{ code: number; summary: BatchSummary; err: string }> {
  const io = captureIo();
  const code = await runCli(['--json', '--quiet', '--cache', cache, 'batch', manifest, '--out-root', root, ...extra], io);
  return { code, summary: JSON.parse(io.out || '{}') as BatchSummary, err: io.err };
}

async function countCached(cache: string): Promise<number> {
  const models = await readdir(path.join(cache, 'traces')).catch(() => [] as string[]);
  let n = 0;
  for (const m of models) n += (await readdir(path.join(cache, 'traces', m))).filter((f) => f.endsWith('.json')).length;
  return n;
}

async function sameResults(rootA: string, rootB: string): Promise<void> {
  for (const run of ['results/probes', 'results/generated']) {
    for (const file of RESULT_FILES) {
      assert.equal(await readFile(path.join(rootB, run, file), 'utf8'), await readFile(path.join(rootA, run, file), 'utf8'), `${run}/${file}`);
    }
  }
}

describe('legal-attn batch', function () {
  this.timeout(240_000);
  let manifest = '';
  let cleanRoot = '';
  let clean: BatchSummary;
  // 4 probes and 20 × 2 generated sequences, on each of three models
  const TOTAL = 3 * (4 + 40);

  before(async () => {
    manifest = await twoSetManifest(20);
    cleanRoot = await temporaryFolder();
    const result = await batch(manifest, cleanRoot, await temporaryFolder());
    assert.equal(result.code, 0, result.err);
    clean = result.summary;
  });

  it('runs every run of the manifest and says so in a summary', () => {
    assert.deepEqual(clean.runs.map((r) => [r.name, r.status]), [
      ['probes', 'ran'],
      ['generated', 'ran'],
    ]);
    assert.equal(clean.traced, TOTAL);
    assert.deepEqual(clean.runs.map((r) => r.traced), [3 * 4, 3 * 40]);
    assert.equal(clean.ran, 2);
    assert.equal(clean.failed, 0);
  });

  it('killed in the middle and run again, ends with the results of a clean run, tracing only what was missing', async () => {
    const cache = await temporaryFolder();
    const root = await temporaryFolder();
    // in a process group of its own, killed whole (the supervisor and its run) as a job scheduler does
    const child = spawn(process.execPath, [BIN, '--quiet', '--cache', cache, 'batch', manifest, '--out-root', root], { stdio: 'ignore', detached: true });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    while ((await countCached(cache)) < 12) await new Promise((r) => setTimeout(r, 5));
    process.kill(-child.pid!, 'SIGKILL');
    await exited;
    const before = await countCached(cache);
    assert.ok(before >= 12 && before < TOTAL, `killed after ${before} of ${TOTAL} traces`);
    const resumed = await batch(manifest, root, cache);
    assert.equal(resumed.code, 0, resumed.err);
    assert.equal(resumed.summary.traced, TOTAL - before);
    await sameResults(cleanRoot, root);
    // and a third run traces nothing at all: its runs ran, every pass from the trace cache, and it says so as it goes
    const io = captureIo();
    assert.equal(await runCli(['--json', '--cache', cache, 'batch', manifest, '--out-root', root], io), 0, io.err);
    const again = JSON.parse(io.out) as BatchSummary;
    assert.equal(again.traced, 0);
    assert.deepEqual(again.runs.map((r) => [r.status, r.traced]), [['ran', 0], ['ran', 0]]);
    const lines = io.err.split('\n').filter((line) => /^(batch:|\[\d\/2\])/.test(line));
    assert.deepEqual(lines.map((line) => line.replace(/\d+(\.\d+)? s/, 'N s')), [
      `batch: checking the 2 run(s) of ${manifest} (models, concepts, checkpoints, tokenizers) before any runs`,
      '[1/2] probes: started',
      '[1/2] probes: ran in N s, every pass from the trace cache',
      '[2/2] generated: started',
      '[2/2] generated: ran in N s, every pass from the trace cache',
    ]);
  });

  it('detects a corrupted cache file and traces that sequence again', async () => {
    const cache = await temporaryFolder();
    const root = await temporaryFolder();
    await batch(manifest, root, cache);
    const model = (await readdir(path.join(cache, 'traces')))[0]!;
    const npy = (await readdir(path.join(cache, 'traces', model))).find((f) => f.endsWith('.npy'))!;
    const file = path.join(cache, 'traces', model, npy);
    const bytes = await readFile(file);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    await writeFile(file, bytes);
    const rerun = await batch(manifest, root, cache);
    assert.equal(rerun.summary.traced, 1);
    await sameResults(cleanRoot, root);
  });

  it('split into shards and merged, gives the results of one machine', async () => {
    const cache = await temporaryFolder();
    const [first, second, merged] = [await temporaryFolder(), await temporaryFolder(), await temporaryFolder()];
    assert.deepEqual((await batch(manifest, first, cache, '--shard', '1/2')).summary.runs.map((r) => r.name), ['probes']);
    assert.deepEqual((await batch(manifest, second, cache, '--shard', '2/2')).summary.runs.map((r) => r.name), ['generated']);
    const io = captureIo();
    assert.equal(await runCli(['--json', 'merge', first, second, '--out', merged], io), 0, io.err);
    assert.deepEqual((JSON.parse(io.out) as BatchSummary).runs.map((r) => r.name), ['probes', 'generated']);
    await sameResults(cleanRoot, merged);

    // Some slices only, or one slice twice: one line, exit 2, nothing written.
    for (const [slices, message] of [
      [[first], /^legal-attn: slice 2\/2 missing; pass every slice's --out-root, once each\.\n$/],
      [[first, first, second], /^legal-attn: slice 1\/2 is both \S+ and \S+; merge each slice once\.\n$/],
    ] as const) {
      const refused = captureIo();
      const out = path.join(await temporaryFolder(), 'merged');
      assert.equal(await runCli(['merge', ...slices, '--out', out], refused), 2);
      assert.match(refused.err, message);
      assert.deepEqual(await listFiles(path.dirname(out)), []);
    }
  });

  it('goes on after a failing run, reports its reason and exits 1; --fail-fast stops', async () => {
    const root = await temporaryFolder();
    await mkdir(path.join(root, 'results'));
    await writeFile(path.join(root, 'results', 'probes'), 'a file where the run wants its folder');
    const result = await batch(manifest, root, await temporaryFolder());
    assert.equal(result.code, 1);
    assert.deepEqual(result.summary.runs.map((r) => r.status), ['failed', 'ran']);
    assert.match(result.summary.runs[0]!.reason!, /results\/probes/);
    const io = captureIo();
    // --fail-fast stops at the failure itself: here a folder that is a file, the user's to fix (exit 2)
    assert.equal(await runCli(['--quiet', 'batch', manifest, '--out-root', root, '--fail-fast'], io), 2);
    assert.match(io.err, /^legal-attn: \S+: cannot create this folder, \S*results\/probes is a file; choose another output folder\.\n$/);
  });

  it('checks every run before loading any model; a run that cannot run is reported, and the others finish', async () => {
    const broken = (await readFile(manifest, 'utf8')).replace('concepts: generated', 'concepts: missing-folder');
    const file = path.join(path.dirname(manifest), 'broken.yaml');
    await writeFile(file, broken);
    const root = await temporaryFolder();
    const result = await batch(file, root, await temporaryFolder());
    assert.equal(result.code, 1);
    assert.deepEqual(result.summary.runs.map((r) => [r.name, r.status]), [['probes', 'ran'], ['generated', 'failed']]);
    assert.match(result.summary.runs[1]!.reason!, /broken\.yaml:\d+: run generated: .*missing-folder: no such file or folder/);
    assert.equal((JSON.parse(await readFile(path.join(root, 'batch-summary.json'), 'utf8')) as BatchSummary).failed, 1);
  });

  it('survives a checkpoint whose weights are truncated: its run fails with the reason, the other runs finish', async () => {
    const dir = await temporaryFolder();
    for (const name of ['model.onnx', 'model.onnx_data', 'tokenizer.json', 'tokenizer_config.json', 'config.json']) await copyFile(path.join(modelDir('cpt'), name), path.join(dir, name));
    await truncate(path.join(dir, 'model.onnx_data'), 4096);
    const text = (await readFile(manifest, 'utf8')).replace(/ {2}cpt: .*\n/, `  cpt: ${dir}\n  other: ${modelDir('cpt')}\n`).replace('models: [base, cpt, ift]\n    concepts: probes', 'models: [base, other, ift]\n    concepts: probes');
    const file = path.join(path.dirname(manifest), 'truncated.yaml');
    await writeFile(file, text);
    const root = await temporaryFolder();
    const result = await batch(file, root, await temporaryFolder());
    assert.equal(result.code, 1, result.err);
    assert.deepEqual(result.summary.runs.map((r) => [r.name, r.status]), [['probes', 'ran'], ['generated', 'failed']]);
    assert.match(result.summary.runs[1]!.reason!, /model\.onnx_data: truncated \(4096 bytes/);
    assert.ok((await listFiles(path.join(root, 'results', 'probes'))).includes('summary.json'));
  });

  it('measures inside the graph by default, keeping no per-head maps; maps: full in a run keeps them', async () => {
    const files = await listFiles(path.join(cleanRoot, 'results', 'probes'));
    assert.ok(files.includes('summary.json'));
    assert.deepEqual(files.filter((f) => f.endsWith('attentions.npy')), []);
    const text = (await readFile(manifest, 'utf8')).replace('    concepts: probes\n', '    concepts: probes\n    maps: full\n');
    const file = path.join(path.dirname(manifest), 'full.yaml');
    await writeFile(file, text);
    const root = await temporaryFolder();
    const result = await batch(file, root, await temporaryFolder(), '--shard', '1/2');
    assert.equal(result.code, 0, result.err);
    assert.equal((await listFiles(path.join(root, 'results', 'probes'))).filter((f) => f.endsWith('attentions.npy')).length, 3 * 4);
  });
});

describe('the passes runs measured from full maps share', () => {
  it('go on the device each run asks for: a run on CUDA is not traced on the CPU, and runs on one device share one pass per model', async () => {
    const concepts = path.join(ROOT, 'concepts', 'hearsay.yaml');
    const request = (out: string): CompareRequest => ({ models: [{ name: 'base', dir: modelDir('base') }, { name: 'cpt', dir: modelDir('cpt') }], concepts, out, maps: 'full', device: 'cpu' });
    const prepared = await prepareCompare(request(path.join(await temporaryFolder(), 'a')));
    const run = (index: number): BatchRun => ({ index, name: `run-${index}`, models: prepared.request.models, concepts, out: `r${index}`, line: 1 });
    // the same checkpoints, once on the CPU (two runs) and once on CUDA (preparing the CUDA run itself needs CUDA libraries)
    const onCuda: PreparedCompare = { ...prepared, request: { ...prepared.request, device: 'cuda' } };
    const passes = sharedPasses([{ run: run(0), compare: prepared }, { run: run(1), compare: prepared }, { run: run(2), compare: onCuda }]);
    assert.deepEqual(passes.map((p) => [p.checkpoint.name, p.device, [...p.runs]]), [['tiny-legal-base', 'cpu', [0, 1]], ['tiny-legal-cpt', 'cpu', [0, 1]], ['tiny-legal-base', 'cuda', [2]], ['tiny-legal-cpt', 'cuda', [2]]]);
    // each sequence once per pass
    assert.equal(passes[0]!.needs.length, prepared.planned.length);
  });
});
