import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, readdir, stat, truncate, writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import path from 'node:path';
import { loadManifest } from '../../lib/options/manifest.js';
import { listFiles, modelDir, ROOT, temporaryFolder, run } from '../helpers.js';
import { alteredCheckpoint } from './checkpoints.js';

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

  it('compare under /sys and report under /proc: one line each, exit 2', async () => {
    const compare = ['compare', '--model', `a=${modelDir('base')}`, '--model', `b=${modelDir('cpt')}`, '--concepts', path.join(ROOT, 'concepts', 'consideration.yaml'), '--out', '/sys/legal-attn-x'];
    assertOneLine(await run(...compare), 2, /^legal-attn: \/sys\/legal-attn-x: cannot create this folder \(not permitted\); choose an output folder you can write to\.\n$/);
    const results = path.join(await temporaryFolder(), 'results');
    assert.equal((await run('--quiet', 'compare', '--model', `a=${modelDir('base')}`, '--model', `b=${modelDir('cpt')}`, '--concepts', path.join(ROOT, 'concepts', 'consideration.yaml'), '--out', results, '--no-report')).code, 0);
    assertOneLine(await run('report', results, '--out', '/proc/legal-attn-x/report'), 2, /^legal-attn: \/proc\/legal-attn-x\/report: cannot create this folder/);
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

describe('batch manifests, continued', () => {
  it('an unknown field: its line, and a README heading that exists', async () => {
    const file = path.join(await temporaryFolder(), 'study.yaml');
    await writeFile(file, 'models:\n  base: m/base\n  cpt: m/cpt\nruns:\n  - name: a\n    models: [base, cpt]\n    concepts: concepts\n    out: a\n    colour: red\n');
    const result = await run('batch', file);
    assertOneLine(result, 2, /study\.yaml:9: field runs\[0\]\.colour is not a known field; see "(.+)" in the README/);
    const heading = /see "(.+)" in the README/.exec(result.err)![1]!;
    assert.match(await readFile(path.join(ROOT, 'README.md'), 'utf8'), new RegExp(`^#+ \`${heading}`, 'm'));
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

describe('compare', () => {
  it('refuses one checkpoint under two names, which could only show changes of 0', async () => {
    const out = path.join(await temporaryFolder(), 'out');
    const result = await run('compare', '--model', `a=${modelDir('base')}`, '--model', `b=${modelDir('base')}`, '--concepts', path.join(ROOT, 'concepts', 'consideration.yaml'), '--out', out);
    assertOneLine(result, 2, /^legal-attn: --model b and --model a are the same weights \(one folder, content hash [0-9a-f]{12}\): every change between them is 0; compare different checkpoints\.\n$/);
    assert.deepEqual(await listFiles(path.dirname(out)), []);
  });
});

describe('legal-attn cache', () => {
  it('lists models with the folders they were read from, and clears one by folder name, saying what it removed', async () => {
    const cache = await temporaryFolder();
    const out = path.join(await temporaryFolder(), 'out');
    assert.equal((await run('--quiet', '--cache', cache, 'trace', '--model', modelDir('base'), '--text', 'A duty of care.', '--out', out, '--maps', 'mean')).code, 0);
    const listed = await run('--cache', cache, 'cache', 'ls');
    assert.match(listed.out, /^ {2}[0-9a-f]{12} +1 traces +\S+ \S+ +\S+models\/tiny-legal-base$/m);
    const cleared = await run('--cache', cache, 'cache', 'clear', '--model', 'tiny-legal-base');
    assert.equal(cleared.code, 0, cleared.err);
    assert.match(cleared.out, /^removed 1 traces \(\S+ \S+\) of tiny-legal-base \([0-9a-f]{12}\) from /);
    assert.match((await run('--cache', cache, 'cache', 'ls')).out, /\(no cached traces\)/);
  });

  it('refuses a model it holds no traces of, and a hash prefix that fits none', async () => {
    const cache = await temporaryFolder();
    for (const name of ['tiny-legal-cpt', 'ffff']) {
      assertOneLine(await run('--cache', cache, 'cache', 'clear', '--model', name), 2, new RegExp(`^legal-attn: --model ${name}: no cached traces of such a model .*legal-attn cache ls\` lists them\\.\\n$`));
    }
  });
});

describe('output folders', () => {
  it('a second run replaces the first run\'s results whole: nothing of it stays', async () => {
    const out = path.join(await temporaryFolder(), 'out');
    assert.equal((await run('--quiet', 'trace', '--model', modelDir('base'), '--concepts', path.join(ROOT, 'concepts', 'consideration.yaml'), '--out', out, '--maps', 'none')).code, 0);
    assert.ok((await listFiles(out)).some((f) => f.startsWith('consideration/')));
    assert.equal((await run('--quiet', 'trace', '--model', modelDir('base'), '--text', 'A [[duty of care]].', '--out', out, '--maps', 'none')).code, 0);
    assert.deepEqual(await listFiles(out), ['tokens.json', 'trace.json']);
  });

  it('a non-empty folder legal-attn did not write is refused, and replaced with --force', async () => {
    const out = await temporaryFolder();
    await writeFile(path.join(out, 'thesis.tex'), 'mine');
    assertOneLine(await run('trace', '--model', modelDir('base'), '--text', 'A duty of care.', '--out', out, '--maps', 'none'), 2, /: holds files legal-attn did not write; choose a new or empty output folder, or pass --force to replace it\.\n$/);
    assert.deepEqual(await listFiles(out), ['thesis.tex']);
    assert.equal((await run('--quiet', 'trace', '--model', modelDir('base'), '--text', 'A duty of care.', '--out', out, '--maps', 'none', '--force')).code, 0);
    assert.deepEqual(await listFiles(out), ['tokens.json', 'trace.json']);
  });

  it('Ctrl-C leaves no staging folder behind', async () => {
    const parent = await temporaryFolder();
    const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'bin', 'legal-attn.js'), '--quiet', 'trace', '--model', modelDir('base'), '--concepts', path.join(ROOT, 'concepts'), '--out', path.join(parent, 'out'), '--maps', 'full', '--no-trace-cache'], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // wait until the run is writing into its staging folder
    for (let k = 0; k < 600 && !(await readdir(parent)).some((f) => f.startsWith('.out.tmp-')); k++) await delay(50);
    assert.ok((await readdir(parent)).some((f) => f.startsWith('.out.tmp-')), 'the run never started writing');
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    assert.deepEqual(await readdir(parent), []);
  });
});

describe('a sequence whose annotations leave no room for control runs', () => {
  it("is listed in skipped with the reason and noted, and the concept's lift comes from its other sequences", async () => {
    const dir = await temporaryFolder();
    const concepts = path.join(dir, 'crowded.yaml');
    await writeFile(
      concepts,
      'id: crowded\nname: Crowded\narea: tort\ncomponents: [duty, breach]\nstructure:\n  - [duty, breach]\nsequences:\n' +
        '  - id: crowded\n    text: The [[duty of care owed by every driver to all other road users|duty]] was [[plainly and very seriously breached by the careless driver|breach]] today.\n' +
        '  - id: roomy\n    text: In the evening a [[duty|duty]] was [[breached|breach]] by the driver on the long and busy road near the town.\n',
    );
    const out = path.join(dir, 'out');
    const result = await run('compare', '--model', `base=${modelDir('base')}`, '--model', `cpt=${modelDir('cpt')}`, '--concepts', concepts, '--out', out, '--no-report', '--no-representations');
    assert.equal(result.code, 0, result.err);
    const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as {
      concepts: Array<{ results: Array<{ target: string; querySet: string; sink: string; sequences: string[]; skipped: Array<{ sequence: string; reason: string }>; models: Record<string, { lift: number | null }> }>; structure: { note?: string } }>;
    };
    const [concept] = summary.concepts;
    const scope = concept!.results.find((r) => r.target === 'concept' && r.querySet === 'all' && r.sink === 'include')!;
    assert.deepEqual(scope.sequences, ['crowded/crowded', 'crowded/roomy']);
    assert.equal(scope.skipped.length, 1);
    assert.equal(scope.skipped[0]!.sequence, 'crowded/crowded');
    assert.match(scope.skipped[0]!.reason, /^no control run of \d+ tokens \(the width of its concept target\) could be measured in any sequence of the run: left out of the control share and lift, which come from the other sequences$/);
    // the concept's lift is the roomy sequence's: its mean share over its mean control share (shares.csv)
    const rows = (await readFile(path.join(out, 'shares.csv'), 'utf8')).split('\n').filter((r) => r.startsWith('crowded,roomy,concept,all,include,base,') && r.endsWith(',attention')).map((r) => r.split(',').map(Number));
    const mean = (column: number): number => rows.reduce((sum, r) => sum + r[column]!, 0) / rows.length;
    assert.equal(rows.length, 48);
    assert.ok(Math.abs(scope.models.base!.lift! - mean(8) / mean(10)) < 1e-9, `${scope.models.base!.lift} vs ${mean(8) / mean(10)}`);
    assert.match(concept!.structure.note ?? '', /^every pair of components its sequences hold is declared, so the structure test has no undeclared pair to contrast them with/);
    assert.match(result.out, /^note: crowded: every pair of components its sequences hold is declared.* \(summary\.json structure\.note\)\.$/m);
    assert.match(result.out, /^note: crowded\/crowded: no control run of \d+ tokens \(the width of its concept target\) .* \(summary\.json skipped\)\.$/m);
    assert.match(result.out, /1 sequence\(s\) without control runs left out of the lift/);
  });
});

describe('unmeasurable is not significant', () => {
  it('a sequence whose query set is empty (the concept ends it) is left out of the means, gets no p-value, and is said to be left out', async () => {
    const out = path.join(await temporaryFolder(), 'out');
    const result = await run('compare', '--model', `base=${modelDir('base')}`, '--model', `cpt=${modelDir('cpt')}`, '--concepts', path.join(ROOT, 'concepts', 'consideration.yaml'), '--query-set', 'outside', '--out', out, '--no-report');
    assert.equal(result.code, 0, result.err);
    // one concept file holds too few words that recur in its sequences to judge the concept by: said, not tested
    assert.match(result.out, /cpt:base +outside\/include: mean Δ [-\d.e+]+, skewness [-\d.]+, \d+% of heads rose, no concept could be tested; 1 sequence\(s\) with no query in outside left out/);
    const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as {
      concepts: Array<{ id: string; results: Array<{ querySet: string; sequences: string[]; skipped: Array<{ sequence: string; reason: string }>; changes: Record<string, { meanDelta: number | null; headsBeatingChance: number | null }> }> }>;
    };
    const [scope] = summary.concepts.find((c) => c.id === 'consideration')!.results.filter((r) => r.querySet === 'outside');
    assert.deepEqual(scope!.skipped, [{ sequence: 'consideration/plain', reason: 'no query in the outside query set of concept: left out of every mean' }]);
    assert.equal(scope!.sequences.length, 2);
    assert.ok(Number.isFinite(scope!.changes['cpt:base']!.meanDelta));
    // the left-out sequence on its own: empty cells, no p-value
    const rows = (await readFile(path.join(out, 'changes.csv'), 'utf8')).split('\n').filter((r) => r.startsWith('consideration,plain,concept,outside,'));
    assert.equal(rows.length, 2 * 48);
    // share before and after, Δ, relative, entropy Δ, effect, p, q, family-wise p: all empty, under both lenses
    for (const row of rows) assert.match(row, /,\d+,\d+,{10}(attention|value)$/);
    assert.equal(rows.filter((r) => r.endsWith(',value')).length, 48);
  });
});
