import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { constants } from 'node:fs';
import { access, readFile, realpath, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { badInput } from '../errors.js';
import { makeFolder, whyNot, writeJson } from '../io/atomic.js';

/**
 * Where legal-attn keeps what it derives from checkpoints (patched graphs, content
 * hashes): `--cache`, else `$LEGAL_ATTN_CACHE`, else `$XDG_CACHE_HOME/legal-attn`, else
 * `~/.cache/legal-attn`. Never inside a checkpoint folder: those are the user's.
 */
export function cacheRoot(explicit?: string): string {
  if (explicit) return path.resolve(explicit);
  if (process.env.LEGAL_ATTN_CACHE) return path.resolve(process.env.LEGAL_ATTN_CACHE);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'legal-attn');
}

/** Where the cache folder is chosen, said when it cannot be written. */
const CACHE_ADVICE = 'pass --cache DIR or set LEGAL_ATTN_CACHE=DIR to a folder you can write to';

/**
 * Makes the cache folder and checks that it can be written, before anything is traced:
 * a cache that cannot be written is named as the cache, with the flag and the variable
 * that choose another.
 */
export async function openCacheFolder(dir: string): Promise<void> {
  await makeFolder(dir, `${dir} (the cache folder)`, CACHE_ADVICE);
  await access(dir, constants.W_OK).catch((error: unknown) => {
    throw badInput(`${dir} (the cache folder): cannot write there (${whyNot(error)}); ${CACHE_ADVICE}.`, error);
  });
}

interface HashRecord {
  size: number;
  mtimeMs: number;
  sha256: string;
}

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * SHA-256 of a file, remembered by path, size and modification time so that a
 * 15 GB weights file is read once, not on every run (the way git's index does).
 */
export async function fileHash(file: string, cacheDir: string): Promise<string> {
  const index = path.join(cacheDir, 'file-hashes.json');
  const key = await realpath(file);
  const info = await stat(key);
  const known: Record<string, HashRecord> = JSON.parse(await readFile(index, 'utf8').catch(() => '{}')) as Record<string, HashRecord>;
  const record = known[key];
  if (record && record.size === info.size && record.mtimeMs === info.mtimeMs) return record.sha256;
  const sha256 = await sha256OfFile(key);
  // Re-read before writing: another process may have added entries meanwhile.
  const latest = JSON.parse(await readFile(index, 'utf8').catch(() => '{}')) as Record<string, HashRecord>;
  latest[key] = { size: info.size, mtimeMs: info.mtimeMs, sha256 };
  await writeJson(index, latest);
  return sha256;
}

/** One hash over a checkpoint's files (graph, then external data, by name). */
export async function contentHash(dir: string, files: readonly string[], cacheDir: string): Promise<string> {
  const combined = createHash('sha256');
  for (const name of files) combined.update(`${name}\0${await fileHash(path.join(dir, name), cacheDir)}\n`);
  return combined.digest('hex');
}

const MODEL_FOLDERS = 'model-folders.json';

/** The checkpoint folders seen with each content hash, so that the cache can be listed by name. */
export async function modelFolders(cacheDir: string): Promise<Record<string, string[]>> {
  return JSON.parse(await readFile(path.join(cacheDir, MODEL_FOLDERS), 'utf8').catch(() => '{}')) as Record<string, string[]>;
}

/** Remembers that `dir` holds the checkpoint with content hash `hash`. */
export async function rememberModelFolder(cacheDir: string, hash: string, dir: string): Promise<void> {
  const known = await modelFolders(cacheDir);
  if (known[hash]?.includes(dir)) return;
  known[hash] = [...(known[hash] ?? []), dir].sort();
  await writeJson(path.join(cacheDir, MODEL_FOLDERS), known);
}
