import { LineCounter, parseDocument, isCollection, isNode, isScalar, visit, type Document, type YAMLError } from 'yaml';
import type { z } from 'zod';
import { badInput } from '../errors.js';
import { fieldProblem, type KeyPath } from './field-problem.js';

export interface ParsedYaml<T> {
  data: T;
  /** Line (1-based) of the node at a key path, or of its nearest ancestor that exists. */
  lineAt: (keys: KeyPath) => number;
}

function lineOf(doc: Document, lines: LineCounter, keys: KeyPath): number {
  for (let n = keys.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(keys.slice(0, n) as unknown[], true);
    if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
  }
  return 1;
}

const CLOSERS: Record<string, string> = { '"': '"', "'": "'", '[': ']', '{': '}' };

/**
 * Where the construct a YAML error is about opened: the innermost quoted scalar or flow
 * collection that holds the error and is never closed. The parser only notices a
 * missing quote or bracket where the file (or the block) ends; the user needs its start.
 */
function unclosedStart(doc: Document, source: string, error: YAMLError): number | undefined {
  const at = error.pos[0];
  let start: number | undefined;
  visit(doc, (_key, node) => {
    const quoted = isScalar(node) && (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE');
    if (!(quoted || (isCollection(node) && node.flow)) || !node.range) return;
    const [from, to] = node.range;
    const text = source.slice(from, to).trimEnd();
    const closer = CLOSERS[source[from] ?? ''];
    // a closing `"` after an odd run of backslashes is escaped, so no closing quote
    const escaped = source[from] === '"' && /(^|[^\\])(\\\\)*\\"$/.test(text);
    const closed = closer !== undefined && text.length > 1 && text.endsWith(closer) && !escaped;
    if (!closed && from < at && at <= Math.max(to, node.range[2]) && (start === undefined || from > start)) start = from;
  });
  return start;
}

/** One sentence naming where a YAML syntax error starts, and what to do. */
function syntaxProblem(doc: Document, source: string, lines: LineCounter, file: string, error: YAMLError): string {
  const reason = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+.*$/, '');
  const opened = unclosedStart(doc, source, error);
  if (opened !== undefined) {
    const { line, col } = lines.linePos(opened);
    const mark = source[opened]!;
    return `${file}:${line}:${col}: malformed YAML: the ${mark} opened here is never closed (${reason}); close it with ${CLOSERS[mark]}.`;
  }
  const { line, col } = lines.linePos(error.pos[0]);
  return `${file}:${line}:${col}: malformed YAML (${reason}); fix the syntax there.`;
}

/**
 * Parses YAML and validates it with a zod schema; a fault is one sentence naming the
 * file, the line and the field, ending with `help` (where to read about the format).
 */
export function parseYamlFile<S extends z.ZodType>(source: string, file: string, schema: S, help: string): ParsedYaml<z.infer<S>> {
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) throw badInput(syntaxProblem(doc, source, lines, file, yamlError));
  const parsed = schema.safeParse(doc.toJS());
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const keys: KeyPath = issue?.path ?? [];
    const unknownKeys = issue?.code === 'unrecognized_keys' ? issue.keys : [];
    const at = [...keys, ...unknownKeys.slice(0, 1)];
    throw badInput(`${file}:${lineOf(doc, lines, at)}: ${fieldProblem(issue, at)}; ${help}`);
  }
  return { data: parsed.data, lineAt: (keys) => lineOf(doc, lines, keys) };
}
