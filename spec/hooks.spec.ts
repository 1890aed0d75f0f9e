import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cleanTemporaryFolders } from './helpers.js';

// Specs never touch the user's cache.
const cache = path.join(os.tmpdir(), `legal-attn-spec-cache-${process.pid}`);
process.env.LEGAL_ATTN_CACHE = cache;

after(async () => {
  await cleanTemporaryFolders();
  await rm(cache, { recursive: true, force: true });
});
