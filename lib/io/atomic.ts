import { rmSync } from 'node:fs';
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

/** Why a file system refused, in words. */
export const whyNot = (error: unknown): string => WHY[errorCode(error)] ?? errorCode(error);

/** What to do about an output folder that cannot be made. */
const OUTPUT_ADVICE = 'choose an output folder you can write to';

/** `named` cannot be a folder because `at`, on its path, is a file. */
const fileInTheWay = (named: string, at: string, advice = 'choose another output folder'): Error => badInput(`${named}: cannot create this folder, ${at} is a file; ${advice}.`);

/**
 * Creates a folder and its missing parents one level at a time, so that every failure
 * is one clear line (Node's recursive mkdir never returns for some paths, such as
 * under /proc) naming the folder (or `named`, the folder the user asked for) and what to do.
 */
export async function makeFolder(dir: string, named = dir, advice = OUTPUT_ADVICE): Promise<void> {
  const missing: string[] = [];
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    const info = await stat(at).catch(() => undefined);
    if (info?.isDirectory()) break;
    if (info) throw fileInTheWay(named, at, advice);
    missing.unshift(at);
    if (path.dirname(at) === at) break;
  }
  for (const folder of missing) {
    await mkdir(folder).catch((error: unknown) => {
      if (errorCode(error) === 'EEXIST') return;
      throw badInput(`${named}: cannot create this folder (${whyNot(error)}); ${advice}.`, error);
    });
  }
}

/** Writes a file under a temporary name and renames it into place: readers never see half of it. */
export async function writeFileWhole(file: string, data: string | Uint8Array): Promise<void> {
  await makeFolder(path.dirname(file));
  await writeFileAtomic(file, typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
}

// Staging folders of writes under way, removed on an interrupt (see `removeStagingFolders`).
const staged = new Set<string>();

/** Hears of each staging folder as it is made (`true`) and as it is committed or discarded (`false`). */
type StagingWatcher = (dir: string, staging: boolean) => void;
let watcher: StagingWatcher | undefined;

/**
 * Tells `watch` of the staging folders of this process: the CLI's supervisor, which
 * removes them when it has to kill a run whose event loop is blocked (a long
 * onnxruntime pass) and cannot clean up after itself.
 */
export function watchStagingFolders(watch: StagingWatcher): void {
  watcher = watch;
}

const track = (dir: string, staging: boolean): void => {
  if (staging) staged.add(dir);
  else staged.delete(dir);
  watcher?.(dir, staging);
};

/** Removes the staging folders of writes under way, so that an interrupted run leaves nothing temporary. */
export function removeStagingFolders(): void {
  for (const folder of staged) rmSync(folder, { recursive: true, force: true });
  staged.clear();
}

/** A folder being filled under a temporary name beside its target, which it replaces whole on `commit`. */
export interface StagedFolder {
  readonly dir: string;
  /** Moves the staged folder to the target, replacing an older copy. */
  commit(): Promise<void>;
  /** Removes the staged folder; the target stays as it was. */
  discard(): Promise<void>;
}

/**
 * Starts a folder that appears at `target` only when it is whole: an interrupted run
 * leaves the previous folder or none, never a mix. The staging folder is a sibling so
 * that the rename stays on one disk.
 */
export async function stageFolder(target: string): Promise<StagedFolder> {
  const parent = path.dirname(target);
  const prefix = `.${path.basename(target)}.tmp-`;
  // A killed run leaves its staging folder behind; it never became the target, so it goes.
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    if (name.startsWith(prefix)) await rm(path.join(parent, name), { recursive: true, force: true });
  }
  const dir = path.join(parent, `${prefix}${process.pid}-${Date.now()}`);
  track(dir, true);
  const discard = async (): Promise<void> => {
    await rm(dir, { recursive: true, force: true });
    track(dir, false);
  };
  try {
    await makeFolder(dir, target);
  } catch (error) {
    await discard();
    throw error;
  }
  return {
    dir,
    async commit() {
      const retired = `${dir}-old`;
      const hadOld = await rename(target, retired).then(
        () => true,
        () => false,
      );
      await rename(dir, target);
      track(dir, false);
      if (!hadOld) return;
      // the replaced results, which a stop while they are being removed must not leave behind
      track(retired, true);
      await rm(retired, { recursive: true, force: true });
      track(retired, false);
    },
    discard,
  };
}

/** Fills a folder through `fill(stagingDir)` and only then puts it in place of `target` (see `stageFolder`). */
export async function writeFolderWhole<T>(target: string, fill: (stagingDir: string) => Promise<T>): Promise<T> {
  const folder = await stageFolder(target);
  try {
    const result = await fill(folder.dir);
    await folder.commit();
    return result;
  } catch (error) {
    await folder.discard();
    throw error;
  }
}

// What tells an output folder of legal-attn's, which a later run may replace: the file each command writes last.
const OUTPUT_MARKERS = ['summary.json', 'trace.json', 'batch-summary.json'];

/**
 * A command's output folder replaces the previous results whole (`writeFolderWhole`), so
 * that nothing of an earlier run stays beside the new one; a non-empty folder
 * legal-attn did not write is refused unless `force`.
 */
export async function checkOutputFolder(target: string, force: boolean): Promise<void> {
  const info = await stat(target).catch(() => undefined);
  if (info && !info.isDirectory()) throw fileInTheWay(target, target);
  const entries = info ? await readdir(target) : [];
  const ours = OUTPUT_MARKERS.some((marker) => entries.includes(marker));
  if (entries.length > 0 && !ours && !force) {
    throw badInput(`${target}: holds files legal-attn did not write; choose a new or empty output folder, or pass --force to replace it.`);
  }
}

/** Checks a command's output folder (`checkOutputFolder`), then writes it whole. */
export async function writeOutputFolder<T>(target: string, options: { force?: boolean }, fill: (stagingDir: string) => Promise<T>): Promise<T> {
  await checkOutputFolder(target, options.force ?? false);
  return writeFolderWhole(target, fill);
}

export const writeJson = (file: string, value: unknown): Promise<void> => writeFileWhole(file, `${JSON.stringify(value, null, 2)}\n`);

