import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCli, type CliIo } from '../bin/cli.js';

/** The repository root (specs run from dist/spec). */
export const ROOT = path.resolve(new URL('../../', import.meta.url).pathname);
export const MODELS = path.join(ROOT, 'models');
export const REFERENCE = path.join(ROOT, 'spec', 'fixtures', 'hf-eager');
export const modelDir = (name: 'base' | 'cpt' | 'ift' | 'base-dynamo'): string => path.join(MODELS, `tiny-legal-${name}`);

export interface ReferenceProbe {
  id: string;
  text: string;
  spans: Array<[number, number]>;
  ids: number[];
  tokens: string[];
  offsets: Array<[number, number]>;
}

interface ReferenceIndex {
  probes: ReferenceProbe[];
  models: Record<string, { files: Record<string, { file: string; shape: number[] }> }>;
}

let index: ReferenceIndex | undefined;
export async function referenceIndex(): Promise<ReferenceIndex> {
  index ??= JSON.parse(await readFile(path.join(REFERENCE, 'refs.json'), 'utf8')) as ReferenceIndex;
  return index;
}

/** Hugging Face eager attention for one probe: `[layers, heads, T, T]` float32. */
export async function referenceAttention(model: 'base' | 'cpt' | 'ift', probe: string): Promise<{ data: Float32Array; dims: number[] }> {
  const entry = (await referenceIndex()).models[model]?.files[probe];
  if (!entry) throw new Error(`no reference for ${model}/${probe}`);
  const bytes = await readFile(path.join(REFERENCE, entry.file));
  return { data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)), dims: entry.shape };
}

export const maxAbsDifference = (a: Float32Array, b: Float32Array): number => {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let k = 0; k < a.length; k++) max = Math.max(max, Math.abs(a[k]! - b[k]!));
  return max;
};

/**
 * Largest difference relative to max(1, |expected|), with NaN only where NaN is
 * expected (a share with no query is NaN on both paths); Infinity otherwise.
 */
export const maxRelativeDifference = (actual: ArrayLike<number>, expected: ArrayLike<number>): number => {
  if (actual.length !== expected.length) return Infinity;
  let max = 0;
  for (let k = 0; k < actual.length; k++) {
    const [a, b] = [actual[k]!, expected[k]!];
    if (Number.isNaN(a) || Number.isNaN(b)) {
      if (Number.isNaN(a) !== Number.isNaN(b)) return Infinity;
      continue;
    }
    max = Math.max(max, Math.abs(a - b) / Math.max(1, Math.abs(b)));
  }
  return max;
};

/** A fresh temporary folder, removed by `cleanTemporaryFolders`. */
const made: string[] = [];
export async function temporaryFolder(prefix = 'legal-attn-spec-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
export async function cleanTemporaryFolders(): Promise<void> {
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

/** Every file below a folder, relative, sorted (to check that nothing was written). */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

export interface CapturedIo extends CliIo {
  out: string;
  err: string;
}
export function captureIo(): CapturedIo {
  const io: CapturedIo = {
    out: '',
    err: '',
    interactive: false,
    stdout: (text) => {
      io.out += text;
    },
    stderr: (text) => {
      io.err += text;
    },
  };
  return io;
}

/** Runs the command line in-process, as a user types it: its exit code and what it wrote. */
export async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIo();
  const code = await runCli(argv, io);
  return { code, out: io.out, err: io.err };
}

/** The reference probes as a concept set in `dir`, spans as character offsets. */
export async function probeConcepts(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const probe of (await referenceIndex()).probes) {
    const spans = probe.spans.map(([start, end]) => `      - { start: ${start}, end: ${end} }`).join('\n');
    await writeFile(path.join(dir, `${probe.id}.yaml`), `id: ${probe.id}\nname: ${probe.id}\narea: test\nsequences:\n  - id: probe\n    text: ${JSON.stringify(probe.text)}\n    spans:\n${spans}\n`);
  }
  return dir;
}
