import assert from 'node:assert/strict';
import { readdir, writeFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { TraceCache } from '../../lib/runtime/trace-cache.js';
import { temporaryFolder } from '../helpers.js';

const key = { model: 'm'.repeat(64), tokenizer: 't', ids: BigInt64Array.of(1n, 5n, 9n) };
const attention = { data: Float32Array.from({ length: 9 }, (_, k) => k / 9), dims: [1, 1, 3, 3] };

describe('TraceCache', () => {
  it('gives back what was put, for the same model, tokenizer and ids only', async () => {
    const cache = new TraceCache(await temporaryFolder());
    await cache.put(key, { attention });
    const back = (await cache.get(key))?.attention;
    assert.deepEqual(back?.dims, [1, 1, 3, 3]);
    assert.deepEqual(Array.from(back.data), Array.from(attention.data));
    assert.equal(await cache.get({ ...key, ids: BigInt64Array.of(1n, 5n, 8n) }), undefined);
    assert.equal(await cache.get({ ...key, tokenizer: 'other' }), undefined);
  });

  it('detects a corrupted entry, removes it and reports it missing', async () => {
    const root = await temporaryFolder();
    const cache = new TraceCache(root);
    await cache.put(key, { attention });
    const folder = path.join(root, 'traces', key.model);
    const npy = (await readdir(folder)).find((f) => f.endsWith('.npy'))!;
    const bytes = Buffer.from(attention.data.buffer).toString('latin1');
    await writeFile(path.join(folder, npy), `\x93NUMPY garbage ${bytes}`, 'latin1');
    assert.equal(await cache.get(key), undefined);
    assert.deepEqual(await readdir(folder), []);
  });

  it('treats maps without their record (an interrupted write) as missing', async () => {
    const root = await temporaryFolder();
    const cache = new TraceCache(root);
    await cache.put(key, { attention });
    const folder = path.join(root, 'traces', key.model);
    await rm(path.join(folder, (await readdir(folder)).find((f) => f.endsWith('.json'))!));
    assert.equal(await cache.get(key), undefined);
  });
});
