import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { modelDir, ROOT, temporaryFolder } from '../helpers.js';

const BIN = path.join(ROOT, 'dist', 'bin', 'legal-attn.js');
/** The bound a stop must end a run within: Slurm kills 30 s after SIGTERM; users wait less. */
const STOP_SECONDS = 5;

// process groups of the runs (the supervisor and its run), killed after each spec in case a failed check left one going
const groups: number[] = [];

const stagingFolders = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((name) => name.startsWith('.out.tmp-'));

/** A compare of the tiny lineage on the whole concept library (about 100 s), started as a user starts it, once it writes into its staging folder. */
async function startCompare(): Promise<{ parent: string; stop: (signal: NodeJS.Signals) => Promise<{ code: number | null; seconds: number }>; runPid: number }> {
  const parent = await temporaryFolder();
  const argv = ['--quiet', '--cache', await temporaryFolder(), 'compare', ...['base', 'cpt', 'ift'].flatMap((m) => ['--model', `${m}=${modelDir(m as 'base')}`]), '--concepts', path.join(ROOT, 'concepts'), '--out', path.join(parent, 'out')];
  const child = spawn(process.execPath, [BIN, ...argv], { stdio: 'ignore', detached: true });
  groups.push(child.pid!);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  for (let k = 0; k < 1200 && (await stagingFolders(parent)).length === 0; k++) await delay(50);
  const [staging] = await stagingFolders(parent);
  assert.ok(staging, 'the run never started writing');
  // the staging folder is named after the process that fills it: .out.tmp-PID-TIME
  const runPid = Number(/^\.out\.tmp-(\d+)-/.exec(staging)![1]);
  const stop = async (signal: NodeJS.Signals) => {
    const start = performance.now();
    child.kill(signal);
    const code = await exited;
    return { code, seconds: (performance.now() - start) / 1000 };
  };
  return { parent, stop, runPid };
}

describe('stopping a run', function () {
  this.timeout(120_000);
  afterEach(() => {
    for (const group of groups.splice(0)) {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // ended already
      }
    }
  });

  it(`SIGTERM ends a running compare within ${STOP_SECONDS} s with exit 143, its staging folder removed`, async () => {
    const { parent, stop } = await startCompare();
    const { code, seconds } = await stop('SIGTERM');
    assert.equal(code, 143);
    assert.ok(seconds < STOP_SECONDS, `took ${seconds.toFixed(1)} s`);
    assert.deepEqual(await readdir(parent), []);
  });

  it(`SIGTERM ends a compare whose event loop is held (as by a long onnxruntime pass) within ${STOP_SECONDS} s, its staging folder removed`, async () => {
    const { parent, stop, runPid } = await startCompare();
    // a stopped process hears no signal, as a run inside a long synchronous pass does not
    process.kill(runPid, 'SIGSTOP');
    const { code, seconds } = await stop('SIGTERM');
    assert.equal(code, 143);
    assert.ok(seconds < STOP_SECONDS, `took ${seconds.toFixed(1)} s`);
    assert.deepEqual(await readdir(parent), []);
    assert.throws(() => process.kill(runPid, 0), /ESRCH/, 'the run is still alive');
  });

  it('SIGINT (Ctrl-C) to a held run ends it with exit 130, its staging folder removed', async () => {
    const { parent, stop, runPid } = await startCompare();
    process.kill(runPid, 'SIGSTOP');
    const { code } = await stop('SIGINT');
    assert.equal(code, 130);
    assert.deepEqual(await readdir(parent), []);
  });
});
