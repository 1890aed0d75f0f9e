import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { badInput } from '../errors.js';
import { parseYamlFile } from '../io/yaml-file.js';
import { readUtf8File } from '../io/utf8-file.js';
import { codePointLength, type Concept, type ConceptSequence, type ConceptSpan } from './concept.js';
import { parseMarkup } from './markup.js';
import { type KeyPath } from '../io/field-problem.js';

const kebab = z.string().regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, 'must be kebab-case (lower-case letters, digits and dashes)');

const spanSchema = z
  .object({
    start: z.number().int().nonnegative(),
    end: z.number().int().nonnegative(),
    label: kebab.optional(),
  })
  .strict();

const sequenceSchema = z
  .object({
    id: kebab,
    register: z.string().min(1).optional(),
    text: z.string().min(1, 'must not be empty'),
    // Offsets instead of inline markers: the text is then taken literally.
    spans: z.array(spanSchema).min(1, 'must list at least one span').optional(),
    // The same sentence as another sequence, with the legal term in plain words.
    'paraphrase-of': kebab.optional(),
  })
  .strict();

const conceptSchema = z
  .object({
    id: kebab,
    name: z.string().min(1),
    area: kebab,
    source: z.string().min(1).optional(),
    note: z.string().min(1).optional(),
    // The labelled parts of the concept (span labels) and how they relate.
    components: z.array(kebab).min(2, 'must list at least two components').optional(),
    structure: z.array(z.tuple([kebab, kebab])).optional(),
    sequences: z.array(sequenceSchema).min(1, 'must list at least one sequence'),
  })
  .strict();

type ConceptFile = z.infer<typeof conceptSchema>;

/** Parses and validates one concept file's text; `file` names it in errors. */
export function parseConceptFile(source: string, file: string): Concept {
  const { data, lineAt } = parseYamlFile(source, file, conceptSchema, 'see concepts/README.md for the format.');
  return toConcept(data, file, lineAt);
}

function toConcept(data: ConceptFile, file: string, lineAt: (keys: KeyPath) => number): Concept {
  const seen = new Set<string>();
  const sequences = data.sequences.map((raw, i): ConceptSequence => {
    const line = lineAt(['sequences', i, 'text']);
    const where = `${file}:${line}: sequence ${raw.id}`;
    if (seen.has(raw.id)) throw badInput(`${file}:${lineAt(['sequences', i, 'id'])}: sequence id ${raw.id} is used twice in this file; give each sequence its own id.`);
    seen.add(raw.id);
    const marked = raw.spans ? { text: raw.text, spans: raw.spans.map(({ start, end, label }): ConceptSpan => (label ? { start, end, label } : { start, end })) } : parseMarkup(raw.text, where);
    if (marked.spans.length === 0) {
      throw badInput(`${where} has no concept span; mark the concept inline as [[term]] or list spans with start and end.`);
    }
    const length = codePointLength(marked.text);
    marked.spans.forEach((span, k) => {
      const spanWhere = raw.spans ? `${file}:${lineAt(['sequences', i, 'spans', k])}: sequence ${raw.id}, spans[${k}]` : where;
      if (span.end <= span.start) throw badInput(`${spanWhere}: the span [${span.start}, ${span.end}) is empty; end must be greater than start.`);
      if (span.end > length) throw badInput(`${spanWhere}: the span [${span.start}, ${span.end}) lies outside the text, which has ${length} characters.`);
    });
    checkOverlaps(marked.spans, (k) => (raw.spans ? `${file}:${lineAt(['sequences', i, 'spans', k])}: sequence ${raw.id}, spans[${k}]` : where));
    const unknown = marked.spans.find((span) => span.label !== undefined && !data.components?.includes(span.label));
    if (unknown && !data.components) throw badInput(`${where}: the span label ${unknown.label} is not declared (the concept has no components); list it under components, or drop the label.`);
    if (unknown) throw badInput(`${where}: the span label ${unknown.label} is not one of the concept's components (${data.components!.join(', ')}); add it to components or fix the label.`);
    const sequence: ConceptSequence = { id: raw.id, text: marked.text, spans: marked.spans, origin: { file, line } };
    if (raw.register) sequence.register = raw.register;
    if (raw['paraphrase-of']) sequence.paraphraseOf = raw['paraphrase-of'];
    return sequence;
  });
  sequences.forEach((sequence, i) => {
    if (!sequence.paraphraseOf) return;
    const original = sequences.find((s) => s.id === sequence.paraphraseOf);
    if (!original || original.paraphraseOf) {
      throw badInput(`${file}:${lineAt(['sequences', i, 'paraphrase-of'])}: paraphrase-of names ${sequence.paraphraseOf}, which is not a sequence of legal wording in this file.`);
    }
  });
  (data.structure ?? []).forEach(([from, to], k) => {
    for (const name of [from, to]) {
      if (!data.components?.includes(name)) throw badInput(`${file}:${lineAt(['structure', k])}: structure names ${name}, which is not one of the concept's components; declare it under components.`);
    }
  });
  const concept: Concept = { id: data.id, name: data.name, area: data.area, sequences, origin: { file, line: lineAt(['id']) } };
  if (data.source) concept.source = data.source;
  if (data.components) concept.components = data.components;
  if (data.structure) concept.structure = data.structure.map(([a, b]) => [a, b] as [string, string]);
  if (data.note) concept.note = data.note;
  return concept;
}

/** Spans must not overlap: a token would count for two targets at once (inline markup cannot nest either). */
function checkOverlaps(spans: readonly ConceptSpan[], whereOf: (k: number) => string): void {
  const order = spans.map((_, k) => k).sort((a, b) => spans[a]!.start - spans[b]!.start || a - b);
  for (let n = 1; n < order.length; n++) {
    const [k, j] = [order[n - 1]!, order[n]!];
    const [earlier, later] = [spans[k]!, spans[j]!];
    if (later.start < earlier.end) {
      throw badInput(`${whereOf(j)}: the span [${later.start}, ${later.end}) overlaps the span [${earlier.start}, ${earlier.end}); spans must not overlap, so mark each character in at most one span.`);
    }
  }
}

const isConceptFile = (name: string): boolean => /\.ya?ml$/i.test(name);

/** Loads one concept file, or every `.yaml`/`.yml` file of a folder (sorted by name). */
export async function loadConcepts(target: string): Promise<Concept[]> {
  const info = await stat(target).catch(() => undefined);
  if (!info) throw badInput(`${target}: no such file or folder; pass a concept YAML file or a folder of them.`);
  const files = info.isDirectory()
    ? (await readdir(target)).filter(isConceptFile).sort().map((name) => path.join(target, name))
    : [target];
  if (files.length === 0) throw badInput(`${target}: the folder holds no .yaml concept files.`);
  const concepts: Concept[] = [];
  const ids = new Map<string, string>();
  for (const file of files) {
    const concept = parseConceptFile(await readUtf8File(file, 'check that the concept file can be read.'), file);
    const other = ids.get(concept.id);
    if (other) throw badInput(`${file}:${concept.origin.line}: concept id ${concept.id} is already used by ${other}; ids must be unique.`);
    ids.set(concept.id, file);
    concepts.push(concept);
  }
  return concepts;
}
