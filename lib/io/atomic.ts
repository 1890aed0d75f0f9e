import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';

/** Writes a file under a temporary name and renames it into place: readers never see half of it. */
export async function writeFileWhole(file: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
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
  await mkdir(staging, { recursive: true });
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

