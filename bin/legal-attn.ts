#!/usr/bin/env node
import { fork } from 'node:child_process';
import { rmSync } from 'node:fs';
import { constants } from 'node:os';
import type { StagingMessage } from './cli-process.js';

/*
 * The supervisor of a run. onnxruntime's passes (and some long loops) hold the run's
 * event loop for seconds to minutes, during which it cannot hear SIGINT or SIGTERM; Slurm
 * sends SIGKILL 30 s after SIGTERM. So the run is a child process: a stop is passed on to
 * it, and a child that has not ended within GRACE_MS is killed and its staging folders
 * removed here. Output folders are thus whole or absent, and the trace cache is written
 * file by file under temporary names (write-file-atomic), so a kill leaves it consistent.
 */

/** How long a stopped run may take to end by itself before it is killed. */
const GRACE_MS = 2000;

const staging = new Set<string>();
let stoppedBy: NodeJS.Signals | undefined;

const child = fork(new URL('./cli-process.js', import.meta.url), process.argv.slice(2), { stdio: ['inherit', 'inherit', 'inherit', 'ipc'] });

child.on('message', (message: StagingMessage) => {
  if (message.staging) staging.add(message.dir);
  else staging.delete(message.dir);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stoppedBy) return;
    stoppedBy = signal;
    child.kill(signal);
    setTimeout(() => child.kill('SIGKILL'), GRACE_MS).unref();
  });
}

child.on('error', (error) => {
  process.stderr.write(`legal-attn: could not start (${error.message}).\n`);
  process.exit(1);
});

// The exit code of the run, or, when a signal ended it, 128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as a shell says.
child.on('exit', (code, signal) => {
  for (const dir of staging) rmSync(dir, { recursive: true, force: true });
  const by = stoppedBy ?? signal;
  process.exit(stoppedBy || code === null ? 128 + (by ? constants.signals[by] : 0) : code);
});
