import assert from 'node:assert/strict';
import { conceptWarnings, uncontrastedStructure } from '../../lib/concepts/concept-warnings.js';
import { parseConceptFile } from '../../lib/concepts/load-concepts.js';

const concept = (components: string, structure: string, text: string) =>
  parseConceptFile(`id: negligence\nname: Negligence\narea: tort\ncomponents: ${components}\nstructure:\n${structure}\nsequences:\n  - id: textbook\n    text: ${text}\n  - id: textbook-plain\n    paraphrase-of: textbook\n    text: The [[obligation|duty]] and the [[failure|breach]].\n`, 'n.yaml');

describe('conceptWarnings', () => {
  it('warns when the one declared pair is the only pair of components', () => {
    const two = concept('[duty, breach]', '  - [duty, breach]', 'A [[duty of care|duty]] was [[breached|breach]].');
    assert.match(uncontrastedStructure(two) ?? '', /^every pair of its components \(duty, breach\) is declared under structure/);
    assert.deepEqual(conceptWarnings(two), [
      'n.yaml:1: concept negligence: every pair of its components (duty, breach) is declared under structure, so no undeclared pair is left to contrast the declared ones with and the structure test can say nothing; declare a third component, or annotate pairs the structure does not relate.',
    ]);
  });

  it('warns when no sequence of legal wording labels an undeclared pair', () => {
    const onlyDeclared = concept('[duty, breach, damage]', '  - [duty, breach]', 'A [[duty of care|duty]] was [[breached|breach]].');
    assert.match(uncontrastedStructure(onlyDeclared) ?? '', /^no sequence of legal wording labels two components that the structure does not relate/);
  });

  it('says nothing of a structure with undeclared pairs to contrast, or of a concept without one', () => {
    const three = concept('[duty, breach, damage]', '  - [duty, breach]', 'A [[duty of care|duty]] was [[breached|breach]], causing [[harm|damage]].');
    assert.deepEqual(conceptWarnings(three), []);
    assert.deepEqual(conceptWarnings(parseConceptFile('id: x\nname: X\narea: tort\nsequences:\n  - id: s\n    text: a [[term]].\n', 'x.yaml')), []);
  });
});
