import { readFile } from 'node:fs/promises';
import { badInput } from '../errors.js';

const REPLACEMENT = '\uFFFD';
const ENCODED_REPLACEMENT = [0xef, 0xbf, 0xbd];

/**
 * Where the first byte that is not UTF-8 sits: its byte offset, line and column
 * (1-based, the column in characters). Everything before it decodes exactly, so the
 * lossy text up to the first replacement character that the file did not itself
 * spell as EF BF BD re-encodes to the same bytes.
 */
function firstInvalidByte(bytes: Uint8Array): { offset: number; line: number; column: number } | undefined {
  const lossy = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
  for (let at = lossy.indexOf(REPLACEMENT); at >= 0; at = lossy.indexOf(REPLACEMENT, at + 1)) {
    const before = lossy.slice(0, at);
    const offset = Buffer.byteLength(before, 'utf8');
    if (ENCODED_REPLACEMENT.every((b, k) => bytes[offset + k] === b)) continue;
    // a BOM is no character an editor shows
    const lineStart = before.lastIndexOf('\n') + 1 || (before.startsWith('\uFEFF') ? 1 : 0);
    return { offset, line: before.split('\n').length, column: Array.from(before.slice(lineStart)).length + 1 };
  }
  return undefined;
}

/** Decodes a file's bytes as strict UTF-8 (a leading BOM dropped); a byte that is not UTF-8 is named by line and column. */
function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (error) {
    const bad = firstInvalidByte(bytes);
    const where = bad ? `${file}:${bad.line}:${bad.column}` : file;
    const byte = bad ? ` (byte 0x${bytes[bad.offset]!.toString(16).toUpperCase().padStart(2, '0')} there is not UTF-8; Latin-1 or Windows-1252, perhaps)` : '';
    throw badInput(`${where}: the file is not UTF-8${byte}; save it as UTF-8.`, error);
  }
}

/** Reads a text file as strict UTF-8; `missing` says what to do when it cannot be read. */
export async function readUtf8File(file: string, missing: string): Promise<string> {
  const bytes = await readFile(file).catch((error: unknown) => {
    throw badInput(`${file}: cannot be read; ${missing}`, error);
  });
  return decodeUtf8(bytes, file);
}
