import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { Tokenizer } from 'tokenizers';
import { ROOT, temporaryFolder } from '../helpers.js';

/** The real tokenizers of spec/fixtures/tokenizers, one of each kind (see its README). */
export const TOKENIZER_KINDS = ['sp-bpe-bytefallback', 'bytelevel-bpe', 'unigram', 'wordpiece'] as const;
export type TokenizerKind = (typeof TOKENIZER_KINDS)[number];

const FIXTURES = path.join(ROOT, 'spec', 'fixtures', 'tokenizers');
const unzip = promisify(gunzip);

/** The sha256 SOURCE.md records for the tokenizer.json as published. */
async function recordedSha256(kind: TokenizerKind): Promise<string> {
  const source = await readFile(path.join(FIXTURES, kind, 'SOURCE.md'), 'utf8');
  const match = /^- tokenizer\.json: .*sha256 `([0-9a-f]{64})`/m.exec(source);
  if (!match?.[1]) throw new Error(`${kind}/SOURCE.md records no sha256 for tokenizer.json`);
  return match[1];
}

const unzipped = new Map<TokenizerKind, Promise<string>>();

/**
 * A folder with the real tokenizer.json of `kind`, unzipped from the fixture and checked
 * against the published file's sha256, and its tokenizer_config.json where the source
 * has one. Unzipped once per run.
 */
export function realTokenizerFolder(kind: TokenizerKind): Promise<string> {
  let folder = unzipped.get(kind);
  if (!folder) {
    folder = (async () => {
      const dir = path.join(await temporaryFolder('legal-attn-tokenizer-'), kind);
      await mkdir(dir);
      const json = await unzip(await readFile(path.join(FIXTURES, kind, 'tokenizer.json.gz')));
      const sha256 = createHash('sha256').update(json).digest('hex');
      if (sha256 !== (await recordedSha256(kind))) throw new Error(`${kind}/tokenizer.json.gz does not unzip to the file SOURCE.md names (sha256 ${sha256})`);
      await writeFile(path.join(dir, 'tokenizer.json'), json);
      await copyFile(path.join(FIXTURES, kind, 'tokenizer_config.json'), path.join(dir, 'tokenizer_config.json')).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
      return dir;
    })();
    unzipped.set(kind, folder);
  }
  return folder;
}

/** The tokenizer itself, as the Hugging Face library reads it, to decode ids. */
export async function realTokenizer(kind: TokenizerKind): Promise<Tokenizer> {
  return Tokenizer.fromFile(path.join(await realTokenizerFolder(kind), 'tokenizer.json'));
}
