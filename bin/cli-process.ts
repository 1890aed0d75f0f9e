import { removeStagingFolders, watchStagingFolders } from '../lib/io/atomic.js';
import { runCli } from './cli.js';

/** What the run tells its supervisor (bin/legal-attn.ts) of a staging folder. */
export interface StagingMessage {
  dir: string;
  staging: boolean;
}

/** Ends the run at once: nothing temporary stays in the output folders. */
const stop = (code: number) => (): void => {
  removeStagingFolders();
  process.exit(code);
};

// Ctrl-C or a job scheduler's stop, heard when the event loop is free; the supervisor kills a run that is not.
process.once('SIGINT', stop(130));
process.once('SIGTERM', stop(143));

if (process.send) {
  // the channel must not keep a finished run alive
  process.channel?.unref();
  watchStagingFolders((dir, staging) => process.send?.({ dir, staging } satisfies StagingMessage));
  // the supervisor was killed: so is the run
  process.once('disconnect', stop(143));
}

process.exitCode = await runCli(process.argv.slice(2));
