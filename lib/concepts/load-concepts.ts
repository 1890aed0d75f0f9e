import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { z } from 'zod';
import { badInput } from '../errors.js';
import { codePointLength, type Concept, type ConceptSequence, type ConceptSpan } from './concept.js';
import { parseMarkup } from './markup.js';

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
  })
  .strict();

const conceptSchema = z
  .object({
    id: kebab,
    name: z.string().min(1),
    area: kebab,
    source: z.string().min(1).optional(),
    note: z.string().min(1).optional(),
    sequences: z.array(sequenceSchema).min(1, 'must list at least one sequence'),
  })
  .strict();

type ConceptFile = z.infer<typeof conceptSchema>;
type Path = ReadonlyArray<PropertyKey>;

/** Line (1-based) of the YAML node at `keys`, or of its nearest ancestor that exists. */
function lineOf(doc: Document, lines: LineCounter, keys: Path): number {
  for (let n = keys.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(keys.slice(0, n) as unknown[], true);
    if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
  }
  return 1;
}

const fieldName = (keys: Path): string =>
  keys.reduce<string>((name, key) => (typeof key === 'number' ? `${name}[${key}]` : name ? `${name}.${String(key)}` : String(key)), '');

/** Parses and validates one concept file's text; `file` names it in errors. */
export function parseConceptFile(source: string, file: string): Concept {
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const line = yamlError.linePos?.[0].line ?? 1;
    throw badInput(`${file}:${line}: malformed YAML (${yamlError.message.split('\n')[0]}); fix the syntax at that line.`);
  }
  const parsed = conceptSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const keys: Path = issue?.path ?? [];
    const extra = issue?.code === 'unrecognized_keys' ? issue.keys : [];
    const at = [...keys, ...extra.slice(0, 1)];
    const field = fieldName(at) || '(top level)';
    const what = issue?.code === 'unrecognized_keys' ? `is not a known field (known: ${knownFields(keys)})` : (issue?.message ?? 'is invalid');
    throw badInput(`${file}:${lineOf(doc, lines, at)}: field ${field} ${what}; see concepts/README.md for the format.`);
  }
  return toConcept(parsed.data, file, (keys) => lineOf(doc, lines, keys));
}

function knownFields(keys: Path): string {
  const shape = keys.length === 0 ? conceptSchema.shape : keys.at(-2) === 'spans' ? spanSchema.shape : sequenceSchema.shape;
  return Object.keys(shape).join(', ');
}

function toConcept(data: ConceptFile, file: string, lineAt: (keys: Path) => number): Concept {
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
    const sequence: ConceptSequence = { id: raw.id, text: marked.text, spans: marked.spans, origin: { file, line } };
    if (raw.register) sequence.register = raw.register;
    return sequence;
  });
  const concept: Concept = { id: data.id, name: data.name, area: data.area, sequences, origin: { file, line: lineAt(['id']) } };
  if (data.source) concept.source = data.source;
  if (data.note) concept.note = data.note;
  return concept;
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
    const concept = parseConceptFile(await readFile(file, 'utf8'), file);
    const other = ids.get(concept.id);
    if (other) throw badInput(`${file}:${concept.origin.line}: concept id ${concept.id} is already used by ${other}; ids must be unique.`);
    ids.set(concept.id, file);
    concepts.push(concept);
  }
  return concepts;
}
