import { createHash } from 'node:crypto';
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { dump, parse } from 'npyjs';
import { badInput } from '../errors.js';
import { writeFileWhole, writeJson } from '../io/atomic.js';
import type { Float32Tensor } from '../io/npy.js';
import { modelFolders } from '../checkpoint/cache-folder.js';

/** What a traced sequence is keyed by: the weights, the tokenizer, the exact input. */
export interface TraceKey {
  model: string;
  tokenizer: string;
  /** The token ids fed to the model (text, special tokens and chat template decided). */
  ids: BigInt64Array;
  /** What was kept of the forward pass: absent for full maps, else a digest of the in-graph reductions and their inputs. */
  variant?: string;
}

/** Named tensors of one entry, stored one after the other in a single .npy. */
export type CacheParts = Record<string, Float32Tensor>;

interface EntryRecord {
  version: 2;
  ids: number[];
  parts: Array<{ name: string; dims: number[] }>;
  /** SHA-256 of the .npy bytes: an entry whose data do not hash to this is not trusted. */
  sha256: string;
}

const keyOf = (key: TraceKey): string =>
  createHash('sha256')
    .update(JSON.stringify({ model: key.model, tokenizer: key.tokenizer, ids: Array.from(key.ids, Number), ...(key.variant ? { variant: key.variant } : {}) }))
    .digest('hex');

const sizeOf = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/**
 * Forward passes kept on disk under the cache folder, one entry per (model, tokenizer,
 * input, variant): named tensors (full maps, or in-graph reductions) in
 * `traces/<model hash>/<key>.npy` with a `<key>.json` written after it. An interrupted run leaves at most a .npy without its .json, which counts as
 * missing; a .npy whose bytes do not match the recorded hash is removed and traced
 * again, never trusted.
 */
export class TraceCache {
  constructor(readonly root: string) {}

  private files(key: TraceKey): { npy: string; json: string } {
    const name = keyOf(key);
    const folder = path.join(this.root, 'traces', key.model);
    return { npy: path.join(folder, `${name}.npy`), json: path.join(folder, `${name}.json`) };
  }

  async get(key: TraceKey): Promise<CacheParts | undefined> {
    const { npy, json } = this.files(key);
    const record = await readFile(json, 'utf8')
      .then((text) => JSON.parse(text) as EntryRecord)
      .catch(() => undefined);
    if (!record) return undefined;
    const bytes = await readFile(npy).catch(() => undefined);
    const intact =
      record.version === 2 &&
      bytes !== undefined &&
      createHash('sha256').update(bytes).digest('hex') === record.sha256 &&
      record.ids.length === key.ids.length &&
      record.ids.every((id, k) => BigInt(id) === key.ids[k]);
    if (!intact) {
      await Promise.all([rm(npy, { force: true }), rm(json, { force: true })]);
      return undefined;
    }
    const data = parse(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)).data as Float32Array;
    const parts: CacheParts = {};
    let offset = 0;
    for (const { name, dims } of record.parts) {
      parts[name] = { data: data.subarray(offset, offset + sizeOf(dims)), dims };
      offset += sizeOf(dims);
    }
    return parts;
  }

  async put(key: TraceKey, parts: CacheParts): Promise<void> {
    const { npy, json } = this.files(key);
    const entries = Object.entries(parts);
    const data = entries.length === 1 ? entries[0]![1].data : new Float32Array(entries.reduce((n, [, t]) => n + t.data.length, 0));
    if (entries.length > 1) entries.reduce((offset, [, t]) => (data.set(t.data, offset), offset + t.data.length), 0);
    const bytes = new Uint8Array(dump(data, entries.length === 1 ? entries[0]![1].dims : [data.length], { dtype: 'f4' }));
    await writeFileWhole(npy, bytes);
    const record: EntryRecord = { version: 2, ids: Array.from(key.ids, Number), parts: entries.map(([name, t]) => ({ name, dims: t.dims })), sha256: createHash('sha256').update(bytes).digest('hex') };
    await writeJson(json, record);
  }
}

export interface CacheListing {
  /** Content hash of the model's weights. */
  model: string;
  /** Checkpoint folders seen with these weights. */
  folders: string[];
  entries: number;
  bytes: number;
}

/** What the trace cache holds, per model content hash, with the folders the model was read from. */
export async function listTraceCache(root: string): Promise<CacheListing[]> {
  const tracesDir = path.join(root, 'traces');
  const models = await readdir(tracesDir).catch(() => [] as string[]);
  const folders = await modelFolders(root);
  const listing: CacheListing[] = [];
  for (const model of models.sort()) {
    const files = await readdir(path.join(tracesDir, model));
    let bytes = 0;
    for (const file of files) bytes += (await stat(path.join(tracesDir, model, file))).size;
    listing.push({ model, folders: folders[model] ?? [], entries: files.filter((f) => f.endsWith('.json')).length, bytes });
  }
  return listing;
}

/**
 * The cached model a user names: its folder (path or folder name) or a prefix of its
 * content hash that fits one model only.
 */
export function findCachedModel(listing: readonly CacheListing[], name: string): CacheListing {
  const byFolder = listing.filter((l) => l.folders.some((f) => f === path.resolve(name) || path.basename(f) === name));
  const matches = byFolder.length > 0 ? byFolder : listing.filter((l) => l.model.startsWith(name.toLowerCase()));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw badInput(`--model ${name}: no cached traces of such a model (a folder name or a content-hash prefix); \`legal-attn cache ls\` lists them.`);
  throw badInput(`--model ${name}: fits ${matches.length} cached models (${matches.map((m) => m.model.slice(0, 12)).join(', ')}); give more of the hash.`);
}

/** Removes cached traces (of one model, or all) and, for all, patched graphs and hashes. */
export async function clearTraceCache(root: string, model?: string): Promise<void> {
  if (model) await rm(path.join(root, 'traces', model), { recursive: true, force: true });
  else await rm(root, { recursive: true, force: true });
}
