#!/usr/bin/env node
import { removeStagingFolders } from '../lib/io/atomic.js';
import { runCli } from './cli.js';

// Ctrl-C or a job scheduler's stop: nothing temporary stays in the output folders.
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.once(signal, () => {
    removeStagingFolders();
    process.exit(code);
  });
}

process.exitCode = await runCli(process.argv.slice(2));
