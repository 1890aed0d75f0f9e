import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { badInput } from '../errors.js';

const errorCode = (error: unknown): string => (error as NodeJS.ErrnoException | undefined)?.code ?? '';

const WHY: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'not permitted',
  EROFS: 'a read-only file system',
  ENOENT: 'this file system does not allow it',
  ENOSPC: 'no space left on the disk',
};

/**
 * Creates a folder and its missing parents one level at a time, so that every failure
 * is one clear line (Node's recursive mkdir never returns for some paths, such as
 * under /proc) naming the folder (or `named`, the folder the user asked for) and what to do.
 */
export async function makeFolder(dir: string, named = dir): Promise<void> {
  const missing: string[] = [];
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    const info = await stat(at).catch(() => undefined);
    if (info?.isDirectory()) break;
    if (info) throw badInput(`${named}: cannot create this folder, ${at} is a file; choose another output folder.`);
    missing.unshift(at);
    if (path.dirname(at) === at) break;
  }
  for (const folder of missing) {
    await mkdir(folder).catch((error: unknown) => {
      if (errorCode(error) === 'EEXIST') return;
      throw badInput(`${named}: cannot create this folder (${WHY[errorCode(error)] ?? errorCode(error)}); choose an output folder you can write to.`, error);
    });
  }
}

/** Writes a file under a temporary name and renames it into place: readers never see half of it. */
export async function writeFileWhole(file: string, data: string | Uint8Array): Promise<void> {
  await makeFolder(path.dirname(file));
  await writeFileAtomic(file, typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
}

/**
 * Fills a folder through `fill(stagingDir)` and only then moves it to `target`,
 * replacing an older copy: an interrupted run leaves the previous folder or none,
 * never a mix. The staging folder is a sibling so that the rename stays on one disk.
 */
export async function writeFolderWhole(target: string, fill: (stagingDir: string) => Promise<void>): Promise<void> {
  const parent = path.dirname(target);
  const prefix = `.${path.basename(target)}.tmp-`;
  // A killed run leaves its staging folder behind; it never became the target, so it goes.
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    if (name.startsWith(prefix)) await rm(path.join(parent, name), { recursive: true, force: true });
  }
  const staging = path.join(parent, `${prefix}${process.pid}-${Date.now()}`);
  await makeFolder(staging, target);
  try {
    await fill(staging);
    const retired = `${staging}-old`;
    const hadOld = await rename(target, retired).then(
      () => true,
      () => false,
    );
    await rename(staging, target);
    if (hadOld) await rm(retired, { recursive: true, force: true });
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

export const writeJson = (file: string, value: unknown): Promise<void> => writeFileWhole(file, `${JSON.stringify(value, null, 2)}\n`);

