import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadTokenizer, tokenizeSequence } from '../../lib/tokenize/tokenizer.js';
import { modelDir, probeConcepts, run, temporaryFolder } from '../helpers.js';

describe('--chat-template', () => {
  const text = 'Under res judicata, a claim cannot be litigated again.';
  const span = { start: 6, end: 18 };

  it("wraps the text in the instruct checkpoint's [INST] template and keeps the span on its words", async () => {
    const plain = await tokenizeSequence(await loadTokenizer(modelDir('ift')), text, [span], 'x');
    const templated = await tokenizeSequence(await loadTokenizer(modelDir('ift'), { chatTemplate: true }), text, [span], 'x');
    assert.equal(templated.templated, `<s>[INST] ${text} [/INST]`);
    assert.equal(templated.ids[0], 1n, 'one <s>, from the template');
    assert.equal(templated.ids.filter((id) => id === 1n).length, 1);
    assert.ok(templated.ids.length > plain.ids.length);
    const words = (a: typeof plain) => a.spans[0]!.tokens.map((t) => a.tokens[t]).join('').replace(/▁/g, ' ').trim();
    assert.match(words(templated), /^res judicata/);
    assert.equal(words(templated), words(plain));
    // the template's own tokens carry no characters of the text
    assert.deepEqual(templated.offsets[1], [0, 0]);
  });

  it('is recorded in trace.json and refused for a checkpoint without a template', async () => {
    const out = path.join(await temporaryFolder(), 'out');
    assert.equal((await run('--quiet', 'trace', '--model', modelDir('ift'), '--text', text, '--out', out, '--chat-template', '--maps', 'none')).code, 0);
    const trace = JSON.parse(await readFile(path.join(out, 'trace.json'), 'utf8')) as { chatTemplate: boolean };
    assert.equal(trace.chatTemplate, true);
    const tokens = JSON.parse(await readFile(path.join(out, 'tokens.json'), 'utf8')) as { templated: string };
    assert.match(tokens.templated, /^<s>\[INST\] /);
    const refused = await run('trace', '--model', modelDir('base'), '--text', text, '--out', path.join(out, 'base'), '--chat-template');
    assert.equal(refused.code, 2);
    assert.match(refused.err, /tokenizer_config\.json: has no chat_template; drop --chat-template/);
  });
});

describe('legal-attn concepts check', () => {
  it('shows, for each span, the tokens it covers under the model', async () => {
    const dir = await probeConcepts(path.join(await temporaryFolder(), 'c'));
    const { code, out } = await run('concepts', 'check', dir, '--model', modelDir('base'));
    assert.equal(code, 0);
    assert.match(out, /consideration \(test\) .*consideration\.yaml\n {2}probe, 32 tokens\n {4}\[68, 81\) "consideration" → 18:▁consider 19:ation,/);
    assert.match(out, /4 concepts, 4 sequences: valid\n$/);
  });

  it('validates without a model, and reports a bad file with its line', async () => {
    const file = path.join(await temporaryFolder(), 'bad.yaml');
    await writeFile(file, 'id: bad\nname: Bad\narea: tort\nsequences:\n  - id: s\n    text: an [[open span\n');
    const { code, err } = await run('concepts', 'check', file);
    assert.equal(code, 2);
    assert.match(err, /bad\.yaml:6: sequence s: a span opened with "\[\[" is never closed/);
  });
});

describe('legal-attn concepts check: errors and warnings', () => {
  const write = async (name: string, text: string): Promise<string> => {
    const file = path.join(await temporaryFolder(), name);
    await writeFile(file, text);
    return file;
  };

  it('warns on stderr, and still exits 0, when the one declared pair is the only pair', async () => {
    const file = await write('n.yaml', 'id: negligence\nname: Negligence\narea: tort\ncomponents: [duty, breach]\nstructure:\n  - [duty, breach]\nsequences:\n  - id: s\n    text: A [[duty of care|duty]] was [[breached|breach]] by the driver on the road.\n');
    const { code, out, err } = await run('concepts', 'check', file);
    assert.equal(code, 0);
    assert.match(out, /1 concepts, 1 sequences: valid, 1 warning \(on stderr\)\n$/);
    assert.equal(err, `warning: ${file}:1: concept negligence: every pair of its components (duty, breach) is declared under structure, so no undeclared pair is left to contrast the declared ones with and the structure test can say nothing; declare a third component, or annotate pairs the structure does not relate.\n`);
    const json = await run('--json', '--quiet', 'concepts', 'check', file);
    const [checked] = JSON.parse(json.out) as Array<{ id: string; warnings: string[] }>;
    assert.equal(checked!.warnings.length, 1);
    assert.match(checked!.warnings[0]!, /^.*n\.yaml:1: concept negligence: every pair/);
  });

  it('exits 2 on an undeclared span label, naming file and line', async () => {
    const file = await write('b.yaml', 'id: b\nname: B\narea: tort\nsequences:\n  - id: s\n    text: a [[b|undeclared]] here\n');
    const { code, out, err } = await run('concepts', 'check', file);
    assert.deepEqual([code, out], [2, '']);
    assert.equal(err, `legal-attn: ${file}:6: sequence s: the span label undeclared is not declared (the concept has no components); list it under components, or drop the label.\n`);
  });

  it('refuses a Latin-1 file in concepts check and in compare alike, naming line and column', async () => {
    const file = await write('latin1.yaml', '');
    await writeFile(file, Buffer.from('id: cle\nname: Clé\narea: tort\nsequences:\n  - id: s\n    text: a [[term]]\n', 'latin1'));
    const expected = `legal-attn: ${file}:2:9: the file is not UTF-8 (byte 0xE9 there is not UTF-8; Latin-1 or Windows-1252, perhaps); save it as UTF-8.\n`;
    assert.deepEqual(await run('concepts', 'check', file), { code: 2, out: '', err: expected });
    const compare = await run('compare', '--model', `base=${modelDir('base')}`, '--model', `cpt=${modelDir('cpt')}`, '--concepts', file, '--out', path.join(path.dirname(file), 'out'));
    assert.deepEqual([compare.code, compare.err], [2, expected]);
  });

  it('with --model, refuses a text longer than the model takes, as compare does', async () => {
    const file = await write('long.yaml', `id: long\nname: Long\narea: tort\nsequences:\n  - id: s\n    text: The [[hearsay]] rule${' applies again'.repeat(600)}.\n`);
    assert.equal((await run('concepts', 'check', file)).code, 0);
    const { code, err } = await run('concepts', 'check', file, '--model', modelDir('base'));
    assert.equal(code, 2);
    assert.match(err, new RegExp(`^legal-attn: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:6: sequence s: the text is \\d+ tokens long but tiny-legal-base takes at most 1024 \\(max_position_embeddings\\); split the text\\.\n$`));
  });

  it('with --model, warns of a sequence whose annotations leave no room for control runs', async () => {
    const file = await write('crowded.yaml', 'id: crowded\nname: Crowded\narea: tort\ncomponents: [duty, breach]\nsequences:\n  - id: s\n    text: The [[duty of care owed by every driver to all other road users|duty]] was [[plainly and very seriously breached by the careless driver|breach]] today.\n');
    const { code, out, err } = await run('concepts', 'check', file, '--model', modelDir('base'));
    assert.equal(code, 0);
    assert.match(out, /valid, 3 warnings \(on stderr\)\n$/);
    const warnings = err.trim().split('\n');
    assert.deepEqual(warnings.map((w) => /its (\S+) target/.exec(w)?.[1]), ['concept', 'component:breach', 'component:duty']);
    assert.match(warnings[0]!, /crowded\.yaml:7: sequence s: its concept target covers (\d+) of its \d+ tokens and no sequence of these concepts leaves \1 consecutive tokens free for a control run, so compare leaves this sequence out of the concept lift over controls; mark fewer words, or add longer sequences\.$/);
  });
});

describe('--json', () => {
  it('prints one JSON result on stdout and the human text on stderr', async () => {
    const { code, out, err } = await run('--json', 'inspect', '--model', modelDir('base'));
    assert.equal(code, 0);
    const report = JSON.parse(out) as { heads: number; layers: unknown[] };
    assert.equal(report.heads, 8);
    assert.match(err, /attention +6 layers × 8 heads/);
  });

  it('gives compare results with the headline numbers of each pair', async () => {
    const concepts = await probeConcepts(path.join(await temporaryFolder(), 'c'));
    const out = path.join(await temporaryFolder(), 'r');
    const { code, out: stdout } = await run('--json', '--quiet', 'compare', '--model', `base=${modelDir('base')}`, '--model', `ift=${modelDir('ift')}`, '--concepts', concepts, '--out', out, '--no-report');
    assert.equal(code, 0);
    const result = JSON.parse(stdout) as { out: string; overall: Array<{ pair: string; heads: number; lens: string }> };
    assert.equal(result.out, out);
    assert.deepEqual(result.overall.map((o) => [o.pair, o.heads, o.lens]), [['ift:base', 48, 'attention'], ['ift:base', 48, 'value']]);
  });
});

describe('the config file', () => {
  it('names models and concepts and sets defaults; the command line still wins', async () => {
    const dir = await temporaryFolder();
    await probeConcepts(path.join(dir, 'probes'));
    const config = path.join(dir, 'study.config.yaml');
    await writeFile(config, `models:\n  base: ${modelDir('base')}\n  cpt: ${modelDir('cpt')}\nconcepts: probes\nseed: 7\nquery-sets: [after]\n`);
    const out = path.join(dir, 'out');
    const result = await run('--quiet', '--config', config, 'compare', '--model', 'base', '--model', 'cpt', '--out', out, '--no-report', '--controls', '5');
    assert.equal(result.code, 0, result.err);
    const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as { options: { seed: number; querySets: string[]; controls: number } };
    assert.deepEqual([summary.options.seed, summary.options.querySets, summary.options.controls], [7, ['after'], 5]);
  });

  it('is refused with its line when a field is wrong', async () => {
    const config = path.join(await temporaryFolder(), 'c.yaml');
    await writeFile(config, 'seed: 1\nthreds: 2\n');
    const { code, err } = await run('--config', config, 'inspect', '--model', modelDir('base'));
    assert.equal(code, 2);
    assert.match(err, /c\.yaml:2: field threds is not a known field/);
  });
});

describe('compare --chat-template', () => {
  it("wraps every model's input in the instruct model's template, and says so in the summary and the report", async () => {
    const concepts = await probeConcepts(path.join(await temporaryFolder(), 'c'));
    const out = path.join(await temporaryFolder(), 'r');
    const result = await run('--quiet', 'compare', '--model', `base=${modelDir('base')}`, '--model', `ift=${modelDir('ift')}`, '--concepts', concepts, '--out', out, '--chat-template');
    assert.equal(result.code, 0, result.err);
    const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as { options: { chatTemplate: boolean } };
    assert.equal(summary.options.chatTemplate, true);
    const tokens = JSON.parse(await readFile(path.join(out, 'traces', 'base', 'mens-rea', 'probe', 'tokens.json'), 'utf8')) as { templated: string };
    assert.match(tokens.templated, /^<s>\[INST\] Most serious crimes/);
    assert.match(await readFile(path.join(out, 'report', 'index.html'), 'utf8'), /chat template: yes/);
  });
});
