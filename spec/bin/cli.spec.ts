import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'npyjs';
import { cacheRoot } from '../../lib/checkpoint/cache-folder.js';
import { loadConcepts } from '../../lib/concepts/load-concepts.js';
import { ROOT, listFiles, modelDir, referenceAttention, referenceIndex, maxAbsDifference, temporaryFolder, run } from '../helpers.js';
import { alteredCheckpoint, fusedAttentionGraph } from './checkpoints.js';
import { ATTENTION_GRAPH } from '../../lib/rewrite/attention-graph.js';

const CONCEPT = `id: res-judicata
name: Res judicata
area: civil-procedure
source: Restatement (Second) of Judgments 17.
components: [doctrine, claim]
sequences:
  - id: probe
    text: Under [[res judicata]], a claim that was decided on the merits cannot be litigated again between the same parties.
  - id: second
    text: The [[doctrine of res judicata|doctrine]] bars a second action on the same claim.
`;

async function conceptFile(source = CONCEPT): Promise<string> {
  const file = path.join(await temporaryFolder(), 'res-judicata.yaml');
  await writeFile(file, source);
  return file;
}

const npyOf = async (file: string) => {
  const bytes = await readFile(file);
  return parse(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
};

describe('legal-attn inspect', () => {
  it('lists layers, heads, key/value heads, head size and the node of each layer for the TorchScript export', async () => {
    const { code, out } = await run('inspect', '--model', modelDir('base'), '--length', '1024');
    assert.equal(code, 0);
    assert.match(out, /attention +6 layers × 8 heads, 2 key\/value heads, head size 16/);
    assert.match(out, /producer +pytorch 2\.11\.0, IR version 8, opset ai\.onnx 17/);
    assert.match(out, /inputs +input_ids int64\[batch, seq\], attention_mask int64\[batch, seq\]/);
    assert.match(out, /3 +layers\.3 +decomposed +\/m\/model\/layers\.3\/self_attn\/Softmax → /);
    // 6 layers × 8 heads × 1024² × 4 bytes
    assert.match(out, /full map +192\.0 MiB for one sequence of 1024 tokens \(32\.0 MiB a layer\)/);
  });

  it('gives the same structure for the torch.export export, as JSON', async () => {
    const { code, out } = await run('inspect', '--model', modelDir('base-dynamo'), '--json');
    assert.equal(code, 0);
    const report = JSON.parse(out) as { layers: Array<{ node: string }>; heads: number; kvHeads: number; opsets: Array<{ version: number }>; nodes: number };
    assert.equal(report.layers.length, 6);
    assert.equal(report.heads, 8);
    assert.equal(report.kvHeads, 2);
    assert.equal(report.nodes, 406);
    assert.ok(report.layers.every((l) => l.node.startsWith('node_Softmax_')));
  });
});

describe('legal-attn trace', () => {
  it('writes tokens.json and a NumPy attentions.npy for --text that equal the reference', async () => {
    const probe = (await referenceIndex()).probes.find((p) => p.id === 'force-majeure')!;
    const out = path.join(await temporaryFolder(), 'out');
    const { code } = await run('trace', '--model', modelDir('cpt'), '--text', probe.text, '--out', out);
    assert.equal(code, 0);
    assert.deepEqual(await listFiles(out), ['attentions.npy', 'tokens.json', 'trace.json']);
    const tokens = JSON.parse(await readFile(path.join(out, 'tokens.json'), 'utf8')) as { ids: number[]; offsets: number[][] };
    assert.deepEqual(tokens.ids, probe.ids);
    assert.deepEqual(tokens.offsets, probe.offsets);
    const npy = await npyOf(path.join(out, 'attentions.npy'));
    assert.equal(npy.dtype, 'f4');
    assert.deepEqual(npy.shape, [6, 8, probe.ids.length, probe.ids.length]);
    const reference = await referenceAttention('cpt', 'force-majeure');
    assert.ok(maxAbsDifference(npy.data as Float32Array, reference.data) < 1e-4);
  });

  it('writes one folder per concept and sequence with the span tokens, and head-averaged maps with --maps mean', async () => {
    const out = path.join(await temporaryFolder(), 'out');
    const { code } = await run('--quiet', 'trace', '--model', modelDir('base'), '--concepts', await conceptFile(), '--out', out, '--maps', 'mean', '--batch-size', '2');
    assert.equal(code, 0);
    assert.deepEqual(await listFiles(out), [
      'res-judicata/probe/attentions-mean.npy',
      'res-judicata/probe/tokens.json',
      'res-judicata/second/attentions-mean.npy',
      'res-judicata/second/tokens.json',
      'trace.json',
    ]);
    const tokens = JSON.parse(await readFile(path.join(out, 'res-judicata/second/tokens.json'), 'utf8')) as {
      tokens: string[];
      spans: Array<{ label?: string; tokens: number[] }>;
      conceptTokens: number[];
    };
    assert.equal(tokens.spans[0]?.label, 'doctrine');
    assert.equal(tokens.spans[0]?.tokens.map((t) => tokens.tokens[t]).join('').replace(/▁/g, ' ').trim(), 'doctrine of res judicata');
    assert.deepEqual(tokens.conceptTokens, tokens.spans[0]?.tokens);

    // the head mean of the reference maps, layer 2, row 5
    const reference = await referenceAttention('base', 'res-judicata');
    const [, heads = 0, T = 0] = reference.dims;
    const npy = await npyOf(path.join(out, 'res-judicata/probe/attentions-mean.npy'));
    assert.deepEqual(npy.shape, [6, T, T]);
    for (let j = 0; j < T; j++) {
      let sum = 0;
      for (let h = 0; h < heads; h++) sum += reference.data[((2 * heads + h) * T + 5) * T + j]!;
      assert.ok(Math.abs((npy.data as Float32Array)[(2 * T + 5) * T + j]! - sum / heads) < 1e-4);
    }
    const trace = JSON.parse(await readFile(path.join(out, 'trace.json'), 'utf8')) as { model: { contentHash: string }; maps: string; sequences: unknown[] };
    assert.match(trace.model.contentHash, /^[0-9a-f]{64}$/);
    assert.equal(trace.maps, 'mean');
    assert.equal(trace.sequences.length, 2);
  });

  it('with --maps none writes the tokens without loading the model', async () => {
    const cache = await temporaryFolder();
    const out = path.join(await temporaryFolder(), 'out');
    assert.equal((await run('--cache', cache, 'trace', '--model', modelDir('base'), '--text', 'A duty of care.', '--out', out, '--maps', 'none')).code, 0);
    assert.deepEqual((await listFiles(out)).sort(), ['tokens.json', 'trace.json']);
    assert.ok(!(await listFiles(cache)).some((f) => f.startsWith('graphs/') || f.startsWith('traces/')), 'no patched graph and no pass in the cache');
  });

  it('caches a patched graph that reads the weights from the checkpoint, and writes nothing into the checkpoint', async () => {
    const checkpoint = await alteredCheckpoint({});
    const before = await listFiles(checkpoint);
    const modified = await Promise.all(before.map(async (f) => (await stat(path.join(checkpoint, f))).mtimeMs));
    const out = path.join(await temporaryFolder(), 'out');
    assert.equal((await run('trace', '--model', checkpoint, '--text', 'A duty of care.', '--out', out, '--maps', 'full')).code, 0);
    assert.deepEqual(await listFiles(checkpoint), before);
    assert.deepEqual(await Promise.all(before.map(async (f) => (await stat(path.join(checkpoint, f))).mtimeMs)), modified);
    const trace = JSON.parse(await readFile(path.join(out, 'trace.json'), 'utf8')) as { model: { contentHash: string } };
    const cached = path.join(cacheRoot(), 'graphs', trace.model.contentHash, ATTENTION_GRAPH);
    const graphSize = (await stat(path.join(checkpoint, 'model.onnx'))).size;
    const cachedSize = (await stat(cached)).size;
    // the graph plus six output names, not the 8.7 MB of weights
    assert.ok(cachedSize > graphSize && cachedSize < graphSize + 1024, `cached graph is ${cachedSize} bytes`);
  });

  it('prints its summary on stdout, as every command prints its result; nothing with --quiet; the JSON object with --json', async () => {
    const trace = async (...flags: string[]) => run(...flags, 'trace', '--model', modelDir('base'), '--text', 'A duty of care.', '--maps', 'none', '--out', path.join(await temporaryFolder(), 'out'));
    const plain = await trace();
    assert.equal(plain.code, 0, plain.err);
    assert.match(plain.out, /^traced 1 sequence\(s\) on tiny-legal-base \(\d+ run, \d+ from the trace cache\); wrote \S+out\n$/);
    assert.equal(plain.err, '');
    const quiet = await trace('--quiet');
    assert.equal(quiet.code, 0, quiet.err);
    assert.equal(quiet.out, '');
    assert.equal(quiet.err, '');
    const json = await trace('--json');
    assert.equal(json.code, 0, json.err);
    const result = JSON.parse(json.out) as { out: string; model: string; contentHash: string; sequences: unknown[] };
    assert.equal(result.model, 'tiny-legal-base');
    assert.equal(result.sequences.length, 1);
    assert.match(result.contentHash, /^[0-9a-f]{64}$/);
    assert.match(json.err, /^traced 1 sequence\(s\) on tiny-legal-base/);
  });

  describe('refuses bad input with one line on stderr, exit 2 and nothing written', () => {
    const refuses = (argv: () => Promise<string[]>, message: RegExp) => async () => {
      const outParent = await temporaryFolder();
      const out = path.join(outParent, 'out');
      const { code, err } = await run(...(await argv()), '--out', out);
      assert.equal(code, 2, err);
      assert.match(err, message);
      assert.equal(err.trim().split('\n').length <= 2, true, err);
      assert.doesNotMatch(err, /\n\s+at /);
      assert.deepEqual(await listFiles(outParent), []);
    };
    const traceText = (model: string) => ['trace', '--model', model, '--text', 'A duty of care.'];

    it('a missing checkpoint folder', refuses(async () => traceText('/no/such/checkpoint'), /^legal-attn: \/no\/such\/checkpoint: no such checkpoint folder/));
    it('a folder without model.onnx', refuses(async () => traceText(await alteredCheckpoint({ omit: ['model.onnx'] })), /model\.onnx: not found; a checkpoint folder needs/));
    it('a missing external data file', refuses(async () => traceText(await alteredCheckpoint({ omit: ['model.onnx_data'] })), /model\.onnx_data: external data file named by .*model\.onnx is missing/));
    it('fused attention', refuses(async () => traceText(await alteredCheckpoint({ graph: fusedAttentionGraph() })), /attention is fused into Attention nodes .*\(do_rotary \(rotary tables made inside the kernel\)\); export with onnxruntime's model builder/));
    it(
      'a tokenizer larger than the embedding',
      refuses(
        async () => traceText(await alteredCheckpoint({ tokenizer: (json) => json.added_tokens.push({ id: 5000, content: '<extra>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }) })),
        /tokenizer\.json: the tokenizer has 4097 tokens but the model's embedding has 4096 rows/,
      ),
    );
    it('a text longer than the maximum positions', refuses(async () => traceText(await alteredCheckpoint({ config: { max_position_embeddings: 4 } })), /--text: the text is \d+ tokens long but checkpoint takes at most 4/));
    it('a span outside the text', refuses(async () => ['trace', '--model', modelDir('base'), '--concepts', await conceptFile(CONCEPT.replace('    text: The [[doctrine', '    spans: [{ start: 3, end: 900 }]\n    text: The [[doctrine'))], /res-judicata\.yaml:\d+: sequence second, spans\[0\]: the span \[3, 900\) lies outside the text/));
    it('an empty span', refuses(async () => ['trace', '--model', modelDir('base'), '--concepts', await conceptFile(CONCEPT.replace('[[res judicata]]', '[[]]res judicata'))], /res-judicata\.yaml:8: sequence probe: the span "\[\[\]\]" is empty/));
    it('malformed YAML', refuses(async () => ['trace', '--model', modelDir('base'), '--concepts', await conceptFile(CONCEPT.replace('name: Res judicata', 'name: [Res judicata'))], /res-judicata\.yaml:\d+:\d+: malformed YAML/));
    it('an unknown flag', refuses(async () => ['trace', '--model', modelDir('base'), '--text', 'x', '--mapz', 'full'], /unknown option '--mapz'/));
    it('a bad --maps value', refuses(async () => ['trace', '--model', modelDir('base'), '--text', 'x', '--maps', 'all'], /argument 'all' is invalid. Allowed choices are none, mean, full/));
    it('--text and --concepts together', refuses(async () => ['trace', '--model', modelDir('base'), '--text', 'x', '--concepts', 'concepts'], /cannot be used with/));
    it('--maps full above --max-map-gb', refuses(async () => ['trace', '--model', modelDir('base'), '--text', 'A duty of care.', '--max-map-gb', '0.000001'], /--maps full: the longest sequence \(\d+ tokens\) needs .* use --maps mean/));
  });
});

describe('the legal-attn executable', () => {
  const exec = promisify(execFile);
  const bin = path.join(ROOT, 'dist', 'bin', 'legal-attn.js');

  it('traces the shipped concepts on a tiny checkpoint and exits 0', async () => {
    const out = path.join(await temporaryFolder(), 'out');
    const { stdout } = await exec(process.execPath, [bin, 'trace', '--model', modelDir('ift'), '--concepts', path.join(ROOT, 'concepts'), '--out', out, '--maps', 'none']);
    assert.match(stdout, /traced \d+ sequence\(s\) on tiny-legal-ift/);
    const trace = JSON.parse(await readFile(path.join(out, 'trace.json'), 'utf8')) as { sequences: Array<{ concept: string }> };
    assert.equal(new Set(trace.sequences.map((s) => s.concept)).size, (await loadConcepts(path.join(ROOT, 'concepts'))).length);
  });

  it('prints one line and no stack trace on bad input, and the stack with --debug', async () => {
    const failed = await exec(process.execPath, [bin, 'inspect', '--model', '/no/such/checkpoint']).catch((error: { code: number; stderr: string }) => error);
    assert.equal('code' in failed ? failed.code : 0, 2);
    assert.equal(failed.stderr, 'legal-attn: /no/such/checkpoint: no such checkpoint folder; pass --model a folder holding model.onnx and tokenizer.json.\n');
    const debug = await exec(process.execPath, [bin, '--debug', 'inspect', '--model', '/no/such/checkpoint']).catch((error: { stderr: string }) => error);
    assert.match(debug.stderr, /\n\s+at /);
  });
});
