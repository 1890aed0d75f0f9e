import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
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

/**
 * Parses YAML and validates it with a zod schema; a fault is one sentence naming the
 * file, the line and the field, ending with `help` (where to read about the format).
 */
export function parseYamlFile<S extends z.ZodType>(source: string, file: string, schema: S, help: string): ParsedYaml<z.infer<S>> {
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const { line, col } = lines.linePos(yamlError.pos[0]);
    throw badInput(`${file}:${line}:${col}: malformed YAML (${(yamlError.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+.*$/, '')}); fix the syntax there.`);
  }
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
