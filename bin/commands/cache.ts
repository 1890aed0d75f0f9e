import type { Command } from 'commander';
import path from 'node:path';
import { cacheRoot } from '../../lib/checkpoint/cache-folder.js';
import { formatBytes } from '../../lib/commands/inspect.js';
import { clearTraceCache, findCachedModel, listTraceCache } from '../../lib/runtime/trace-cache.js';
import type { CliContext } from '../context.js';

/** `legal-attn cache ls` and `legal-attn cache clear`: the trace cache. */
export function registerCache(program: Command, context: CliContext): void {
  const cache = program.command('cache').description('the trace cache: what it holds, and clearing it');
  cache
    .command('ls')
    .description('list cached traces per model: content hash, the folders it was read from, traces, size')
    .action(async () => {
      const root = cacheRoot(context.cacheOption().cacheDir);
      const listing = await listTraceCache(root);
      const lines = listing.map((l) => `  ${l.model.slice(0, 12)}  ${String(l.entries).padStart(6)} traces  ${formatBytes(l.bytes).padStart(9)}  ${l.folders.join(', ') || '(folder not recorded)'}`);
      context.emit({ root, models: listing }, `${root}\n${lines.join('\n') || '  (no cached traces)'}\n`);
    });
  cache
    .command('clear')
    .description('delete the cached traces of one model (--model), or the whole cache')
    .option('--model <name>', 'only the traces of this model: its folder, folder name, or a content-hash prefix')
    .action(async (options: { model?: string }) => {
      const root = cacheRoot(context.cacheOption().cacheDir);
      if (!options.model) {
        await clearTraceCache(root);
        context.emit({ root, cleared: 'all' }, `cleared the cache in ${root}\n`);
        return;
      }
      const model = findCachedModel(await listTraceCache(root), options.model);
      await clearTraceCache(root, model.model);
      const name = model.folders.map((f) => path.basename(f)).join(', ') || model.model.slice(0, 12);
      context.emit({ root, cleared: model }, `removed ${model.entries} traces (${formatBytes(model.bytes)}) of ${name} (${model.model.slice(0, 12)}) from ${root}\n`);
    });
}
