import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConcepts, parseConceptFile } from '../../lib/concepts/load-concepts.js';
import { LegalAttnError } from '../../lib/errors.js';
import { ROOT, temporaryFolder } from '../helpers.js';

const valid = `id: hearsay
name: Hearsay
area: evidence
source: Federal Rules of Evidence 801-802.
sequences:
  - id: plain
    register: plain
    text: The witness repeated what a neighbour had told her, which is [[hearsay]].
  - id: offsets
    text: Hearsay is generally excluded.
    spans:
      - { start: 0, end: 7 }
`;

const rejects = (source: string, expected: RegExp) => () =>
  assert.throws(
    () => parseConceptFile(source, 'concepts/hearsay.yaml'),
    (error: unknown) => error instanceof LegalAttnError && error.code === 'bad-input' && expected.test(error.message),
  );

describe('parseConceptFile', () => {
  it('reads inline spans and character-offset spans', () => {
    const concept = parseConceptFile(valid, 'concepts/hearsay.yaml');
    assert.equal(concept.id, 'hearsay');
    assert.equal(concept.area, 'evidence');
    assert.equal(concept.sequences.length, 2);
    const [plain, offsets] = concept.sequences;
    assert.equal(plain?.text.slice(plain.spans[0]!.start, plain.spans[0]!.end), 'hearsay');
    assert.deepEqual(plain?.origin, { file: 'concepts/hearsay.yaml', line: 8 });
    assert.equal(offsets?.text, 'Hearsay is generally excluded.');
    assert.deepEqual(offsets?.spans, [{ start: 0, end: 7 }]);
  });

  it('names where an unclosed flow sequence opened', rejects('id: x\nname: [unclosed\narea: tort\n', /^concepts\/hearsay\.yaml:2:7: malformed YAML: the \[ opened here is never closed .*; close it with \]\.$/));
  it('names where an unclosed quote opened, not the end of the file', rejects(valid.replace('text: Hearsay is generally excluded.', 'text: "Hearsay is generally excluded.'), /^concepts\/hearsay\.yaml:10:11: malformed YAML: the " opened here is never closed \(Missing closing "quote\); close it with "\.$/));
  it('names where an unclosed quote opened inside a flow sequence', rejects("id: x\nname: [a, 'b\narea: tort\n", /^concepts\/hearsay\.yaml:2:11: malformed YAML: the ' opened here/));
  it('takes an escaped quote for no closing quote', rejects('id: x\nname: "a\\"\narea: tort\n', /^concepts\/hearsay\.yaml:2:7: malformed YAML: the " opened here/));
  it('names other YAML faults where the parser finds them', rejects('id: x\nid: y\n', /^concepts\/hearsay\.yaml:2:1: malformed YAML \(Map keys must be unique\); fix the syntax there\./));
  it('names the line and field of an unknown field', rejects(valid.replace('area: evidence', 'area: evidence\nareaa: typo'), /^concepts\/hearsay\.yaml:4: field areaa is not a known field/));
  it('names the line and field of a missing text', rejects(valid.replace('    text: Hearsay is generally excluded.\n', ''), /^concepts\/hearsay\.yaml:9: field sequences\[1\]\.text /));
  it('rejects a span outside the text', rejects(valid.replace('end: 7', 'end: 70'), /hearsay\.yaml:12: sequence offsets, spans\[0\]: the span \[0, 70\) lies outside the text/));
  it('rejects an empty span', rejects(valid.replace('start: 0, end: 7', 'start: 5, end: 5'), /hearsay\.yaml:12: .*is empty/));
  it('rejects a sequence without spans', rejects(valid.replace('[[hearsay]]', 'hearsay'), /hearsay\.yaml:8: sequence plain has no concept span/));
  it('rejects overlapping offset spans, naming the later one', rejects(valid.replace('      - { start: 0, end: 7 }\n', '      - { start: 4, end: 7 }\n      - { start: 5, end: 9 }\n'), /^concepts\/hearsay\.yaml:13: sequence offsets, spans\[1\]: the span \[5, 9\) overlaps the span \[4, 7\); spans must not overlap/));
  it('accepts offset spans that only touch', () => {
    const concept = parseConceptFile(valid.replace('      - { start: 0, end: 7 }\n', '      - { start: 8, end: 10 }\n      - { start: 0, end: 7 }\n      - { start: 7, end: 8 }\n'), 'h.yaml');
    assert.equal(concept.sequences[1]!.spans.length, 3);
  });
  it('rejects a span label when the concept declares no components', rejects(valid.replace('[[hearsay]]', '[[hearsay|undeclared]]'), /^concepts\/hearsay\.yaml:8: sequence plain: the span label undeclared is not declared \(the concept has no components\); list it under components, or drop the label\.$/));
  it('rejects an offset span label when the concept declares no components', rejects(valid.replace('{ start: 0, end: 7 }', '{ start: 0, end: 7, label: rule }'), /hearsay\.yaml:10: sequence offsets: the span label rule is not declared/));
  it('rejects an id that is not kebab-case', rejects(valid.replace('id: hearsay', 'id: Hearsay Rule'), /hearsay\.yaml:1: field id must be kebab-case/));
});

describe('loadConcepts', () => {
  it('loads the shipped library: 30+ concepts over 6+ areas, the study\'s seven among them, each with three registers and a plain control', async () => {
    const concepts = await loadConcepts(path.join(ROOT, 'concepts'));
    assert.ok(concepts.length >= 30, `${concepts.length} concepts`);
    assert.ok(new Set(concepts.map((c) => c.area)).size >= 6);
    const ids = concepts.map((c) => c.id);
    for (const id of ['consideration', 'duty-of-care', 'force-majeure', 'hearsay', 'mens-rea', 'promissory-estoppel', 'res-judicata']) assert.ok(ids.includes(id), id);
    for (const concept of concepts) {
      const legal = concept.sequences.filter((s) => !s.paraphraseOf);
      assert.ok(legal.length >= 3, `${concept.id} has three sequences of legal wording`);
      assert.ok(new Set(legal.map((s) => s.register)).size >= 3, `${concept.id} has three registers`);
      assert.ok(concept.sequences.some((s) => s.paraphraseOf), `${concept.id} has a plain control`);
      for (const sequence of concept.sequences) assert.ok(sequence.spans.length >= 1);
    }
    const structured = concepts.filter((c) => c.components && c.structure && c.structure.length > 0);
    assert.ok(structured.length >= 10, `${structured.length} concepts declare their structure`);
    for (const concept of structured) {
      const labels = new Set(concept.sequences.flatMap((s) => s.spans.flatMap((span) => (span.label ? [span.label] : []))));
      assert.ok(concept.components!.every((c) => labels.has(c)), `every component of ${concept.id} is annotated somewhere`);
    }
  });

  it('refuses two files with the same concept id', async () => {
    const dir = await temporaryFolder();
    await writeFile(path.join(dir, 'a.yaml'), valid);
    await writeFile(path.join(dir, 'b.yaml'), valid);
    await assert.rejects(loadConcepts(dir), /b\.yaml:1: concept id hearsay is already used by .*a\.yaml/);
  });

  it('refuses a Latin-1 file, naming the line and column of the first byte that is not UTF-8', async () => {
    const file = path.join(await temporaryFolder(), 'latin1.yaml');
    await writeFile(file, Buffer.concat([Buffer.from(valid.replace('generally', 'clé, generally'), 'latin1')]));
    await assert.rejects(loadConcepts(file), (error: unknown) => {
      assert.ok(error instanceof LegalAttnError && error.code === 'bad-input');
      assert.equal(error.message, `${file}:10:24: the file is not UTF-8 (byte 0xE9 there is not UTF-8; Latin-1 or Windows-1252, perhaps); save it as UTF-8.`);
      return true;
    });
  });

  it('counts the column in characters past UTF-8 text and a real U+FFFD before the bad byte', async () => {
    const file = path.join(await temporaryFolder(), 'mixed.yaml');
    const line = 'note: «\uFFFD» ';
    await writeFile(file, Buffer.concat([Buffer.from(`${valid}${line}`, 'utf8'), Buffer.from([0xe9, 0x0a])]));
    await assert.rejects(loadConcepts(file), new RegExp(`mixed\\.yaml:13:${Array.from(line).length + 1}: the file is not UTF-8 \\(byte 0xE9`));
  });

  it('reads a UTF-8 file that starts with a byte order mark', async () => {
    const file = path.join(await temporaryFolder(), 'bom.yaml');
    await writeFile(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(valid.replace('generally', 'clé, generally'), 'utf8')]));
    const [concept] = await loadConcepts(file);
    assert.equal(concept!.id, 'hearsay');
    assert.equal(concept!.sequences[1]!.text, 'Hearsay is clé, generally excluded.');
  });

  it('refuses a folder with no concept files', async () => {
    await assert.rejects(loadConcepts(await temporaryFolder()), /holds no \.yaml concept files/);
  });
});

describe('concept structure in concept files', () => {
  const structured = `id: negligence
name: Negligence
area: tort
components: [duty, breach]
structure:
  - [duty, breach]
sequences:
  - id: textbook
    text: The defendant owed a [[duty of care|duty]] and [[breached|breach]] it.
  - id: textbook-plain
    paraphrase-of: textbook
    text: The other side had an [[obligation to be careful|duty]] and [[failed it|breach]].
`;
  it('reads components, declared relations and plain paraphrases', () => {
    const concept = parseConceptFile(structured, 'n.yaml');
    assert.deepEqual(concept.components, ['duty', 'breach']);
    assert.deepEqual(concept.structure, [['duty', 'breach']]);
    assert.equal(concept.sequences[1]?.paraphraseOf, 'textbook');
  });
  it('refuses a span label that is not a declared component', rejects(structured.replace('|breach]] it', '|breech]] it'), /sequence textbook: the span label breech is not one of the concept's components/));
  it('refuses a relation between undeclared components', rejects(structured.replace('  - [duty, breach]', '  - [duty, damage]'), /hearsay\.yaml:6: structure names damage/));
  it('refuses a paraphrase of a sequence that does not exist', rejects(structured.replace('paraphrase-of: textbook', 'paraphrase-of: statute'), /paraphrase-of names statute, which is not a sequence of legal wording/));
});
