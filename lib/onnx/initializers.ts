import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { badInput } from '../errors.js';
import { BFLOAT16, ELEMENT_TYPES, EXTERNAL_DATA_LOCATION, FLOAT, FLOAT16, type TensorProto } from './proto.js';
import { delimited, graphBytes, wireFields, withGraph } from './wire.js';


// Bits per element; 4-bit types pack two elements in a byte.
const BITS: Readonly<Record<number, number>> = { 1: 32, 2: 8, 3: 8, 4: 16, 5: 16, 6: 32, 7: 64, 9: 8, 10: 16, 11: 64, 12: 32, 13: 64, 16: 16, 17: 8, 18: 8, 19: 8, 20: 8, 21: 4, 22: 4, 23: 4 };

/** The name of an ONNX element type (`float16`, `int8`, …), or `type N`. */
export const typeName = (dataType: number | null | undefined): string => ELEMENT_TYPES[dataType ?? 0] ?? `type ${dataType ?? '?'}`;

/** The product of a tensor's dims (1 for a scalar). */
export const elementCount = (tensor: TensorProto): number => (tensor.dims ?? []).reduce<number>((n, d) => n * Number(d), 1);

/** The dims as numbers. */
export const shapeOf = (tensor: TensorProto): number[] => (tensor.dims ?? []).map(Number);

/** Bytes of a tensor's data: ⌈elements × bits / 8⌉; undefined for types of no fixed size (strings). */
export function byteLength(tensor: TensorProto): number | undefined {
  const bits = BITS[tensor.dataType ?? 0];
  return bits === undefined ? undefined : Math.ceil((elementCount(tensor) * bits) / 8);
}

/** Where an external tensor's bytes lie: `location` as written, the file it resolves to, offset and length. */
export interface ExternalPlace {
  location: string;
  file: string;
  offset: number;
  length: number;
}

/**
 * Where an initializer's external data lies, resolved against the model's folder `dir`;
 * undefined for an inline tensor. A location outside the folder is refused, as onnxruntime does.
 */
export function externalPlace(tensor: TensorProto, dir: string): ExternalPlace | undefined {
  if (tensor.dataLocation !== EXTERNAL_DATA_LOCATION) return undefined;
  const entries = new Map((tensor.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const location = entries.get('location') ?? '';
  const file = path.resolve(dir, location);
  if (!location || path.relative(path.resolve(dir), file).startsWith('..')) {
    throw badInput(`${dir}: the graph's initializer ${tensor.name ?? ''} names its external data "${location}", not a file inside the model's folder; export the model again.`);
  }
  const length = entries.has('length') ? Number(entries.get('length')) : (byteLength(tensor) ?? 0);
  return { location, file, offset: Number(entries.get('offset') ?? 0), length };
}

const bytesOf = (view: ArrayBufferView): Uint8Array => new Uint8Array(view.buffer, view.byteOffset, view.byteLength);

/**
 * An inline tensor's data as the little-endian bytes raw_data would hold: raw_data itself
 * (copied, so typed views of it are aligned), or the typed field Python's helpers write
 * (float_data, int32_data for 8- and 16-bit types, int64_data, double_data, uint64_data).
 * Undefined for a form not read here (strings, 4-bit types in int32_data).
 */
export function inlineBytes(tensor: TensorProto): Uint8Array | undefined {
  const type = tensor.dataType ?? 0;
  const bits = BITS[type];
  if (tensor.rawData && tensor.rawData.length > 0) return Uint8Array.from(tensor.rawData);
  if (tensor.floatData?.length) return bytesOf(Float32Array.from(tensor.floatData));
  if (tensor.doubleData?.length) return bytesOf(Float64Array.from(tensor.doubleData));
  if (tensor.int64Data?.length) return bytesOf(BigInt64Array.from(tensor.int64Data, (v) => BigInt(String(v))));
  if (tensor.uint64Data?.length) return type === 12 ? bytesOf(Uint32Array.from(tensor.uint64Data, Number)) : bytesOf(BigUint64Array.from(tensor.uint64Data, (v) => BigInt(String(v))));
  if (tensor.int32Data?.length) {
    // 8- and 16-bit values (float16 and bfloat16 as their bit patterns) keep their low bits
    if (bits === 32) return bytesOf(Int32Array.from(tensor.int32Data));
    if (bits === 16) return bytesOf(Uint16Array.from(tensor.int32Data));
    if (bits === 8) return Uint8Array.from(tensor.int32Data);
    return undefined;
  }
  return bits === undefined ? undefined : new Uint8Array(0);
}

const CHUNK = 1 << 30; // one read or write moves at most 2 GB in Node

/** Reads `length` bytes at `position`; fewer (a truncated file) is refused naming `file`. */
export async function readFully(handle: FileHandle, length: number, position: number, file: string): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  for (let done = 0; done < length; ) {
    const { bytesRead } = await handle.read(bytes, done, Math.min(CHUNK, length - done), position + done);
    if (bytesRead === 0) throw badInput(`${file}: truncated (no bytes at ${position + done}, where the model reads up to ${position + length}); copy or download it again.`);
    done += bytesRead;
  }
  return bytes;
}

/** Writes all of `bytes` at `position`. */
export async function writeFully(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, done, Math.min(CHUNK, bytes.length - done), position + done);
    done += bytesWritten;
  }
}

/** Opens a file to read, a missing one refused as bad input naming it. */
export async function openToRead(file: string, what: string): Promise<FileHandle> {
  return open(file, 'r').catch((error: unknown) => {
    throw badInput(`${file}: cannot read this ${what} (${(error as NodeJS.ErrnoException).code ?? String(error)}); copy it beside model.onnx.`, error);
  });
}

/**
 * Byte ranges `[start, start + length)` of an initializer's data: from its external file
 * (reading only those bytes, the file opened once) or from model.onnx's inline data.
 */
export async function readInitializerRanges(tensor: TensorProto, dir: string, ranges: ReadonlyArray<readonly [number, number]>): Promise<Uint8Array[]> {
  const place = externalPlace(tensor, dir);
  const total = place?.length ?? byteLength(tensor) ?? 0;
  const outside = ranges.find(([start, length]) => start < 0 || start + length > total);
  if (outside) throw badInput(`${tensor.name ?? ''}: bytes ${outside[0]}–${outside[0] + outside[1]} are outside its ${total} bytes.`);
  if (!place) {
    const all = inlineBytes(tensor);
    if (!all || all.length < total) throw badInput(`${dir}: the graph's initializer ${tensor.name ?? ''} holds ${all?.length ?? 0} bytes where its shape needs ${total}; export the model again.`);
    return ranges.map(([start, length]) => all.slice(start, start + length));
  }
  const handle = await openToRead(place.file, 'external data file');
  try {
    const out: Uint8Array[] = [];
    for (const [start, length] of ranges) out.push(await readFully(handle, length, place.offset + start, place.file));
    return out;
  } finally {
    await handle.close();
  }
}

/** All of an initializer's data bytes. */
export const readInitializer = async (tensor: TensorProto, dir: string): Promise<Uint8Array> =>
  (await readInitializerRanges(tensor, dir, [[0, externalPlace(tensor, dir)?.length ?? byteLength(tensor) ?? 0]]))[0]!;

/** Copies bytes [from, to) of one open file to the same place in another, 64 MB at a time. */
async function copyRange(input: FileHandle, output: FileHandle, from: number, to: number, file: string): Promise<void> {
  for (let at = from; at < to; at += 1 << 26) await writeFully(output, await readFully(input, Math.min(1 << 26, to - at), at, file), at);
}

/**
 * Writes `to` as a copy of the external data file `from` in which the bytes of each extent
 * k are replaced by `change(k, bytes)` (as long), in offset order: one tensor is in memory
 * at a time, and every tensor keeps its offset. Extents that share bytes are refused.
 */
export async function rewriteExternalData(from: string, to: string, extents: readonly ExternalPlace[], change: (k: number, bytes: Uint8Array) => Promise<Uint8Array>): Promise<void> {
  const order = extents.map((_, k) => k).sort((a, b) => extents[a]!.offset - extents[b]!.offset);
  const input = await openToRead(from, 'external data file');
  const output = await open(to, 'w');
  try {
    let at = 0;
    for (const k of order) {
      const { offset, length } = extents[k]!;
      if (offset < at) throw badInput(`${from}: two initializers share bytes at ${offset}; legal-attn rewrites only tensors with bytes of their own.`);
      await copyRange(input, output, at, offset, from);
      await writeFully(output, await change(k, await readFully(input, length, offset, from)), offset);
      at = offset + length;
    }
    await copyRange(input, output, at, (await input.stat()).size, from);
  } finally {
    await Promise.all([input.close(), output.close()]);
  }
}

let halfTable: Float32Array | undefined;

/** The float32 value of a float16 bit pattern (exact: every float16 is a float32). */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** float32 values of float32, float16 or bfloat16 data bytes (float32 bytes are viewed, not copied, when aligned). */
export function toFloat32(bytes: Uint8Array, dataType: number): Float32Array {
  if (dataType === FLOAT) {
    const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
    return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
  }
  const aligned = bytes.byteOffset % 2 === 0 ? bytes : bytes.slice();
  const bits = new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength >>> 1);
  const out = new Float32Array(bits.length);
  if (dataType === BFLOAT16) {
    // bfloat16 is the upper half of a float32
    const words = new Uint32Array(out.buffer);
    for (let k = 0; k < bits.length; k++) words[k] = bits[k]! << 16;
    return out;
  }
  if (dataType !== FLOAT16) throw new Error(`toFloat32: ${typeName(dataType)} is not a float type`);
  halfTable ??= Float32Array.from({ length: 65536 }, (_, h) => halfToFloat(h));
  for (let k = 0; k < bits.length; k++) out[k] = halfTable[bits[k]!]!;
  return out;
}

// Field numbers of onnx.proto: GraphProto.initializer, and TensorProto's data fields.
const GRAPH_INITIALIZER = 5;
const TENSOR_RAW_DATA = 9;
const TENSOR_DATA_FIELDS = new Set([4, 5, 7, 9, 10, 11]); // float, int32, int64, raw, double, uint64

/** A serialized tensor with its data fields replaced by one raw_data field (where the first was); every other byte as it was. */
export function withRawData(tensor: Uint8Array, data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let placed = false;
  for (const f of wireFields(tensor)) {
    if (!TENSOR_DATA_FIELDS.has(f.field)) parts.push(tensor.subarray(f.start, f.end));
    else if (!placed) {
      parts.push(delimited(TENSOR_RAW_DATA, data));
      placed = true;
    }
  }
  if (!placed) parts.push(delimited(TENSOR_RAW_DATA, data));
  return Buffer.concat(parts);
}

/**
 * A serialized model in which the inline initializers of some indices (in `graph.initializer`
 * order) hold new data, written as raw_data; every other field, of those tensors too, is
 * copied byte for byte (a graph written in several parts comes out as one).
 */
export function replaceInlineData(modelBytes: Uint8Array, data: ReadonlyMap<number, Uint8Array>): Uint8Array {
  const graph = graphBytes(modelBytes);
  let index = 0;
  const parts = wireFields(graph).map((f) => {
    const whole = graph.subarray(f.start, f.end);
    if (f.field !== GRAPH_INITIALIZER || !f.payload) return whole;
    const replacement = data.get(index++);
    return replacement ? delimited(GRAPH_INITIALIZER, withRawData(graph.subarray(f.payload[0], f.payload[1]), replacement)) : whole;
  });
  return withGraph(modelBytes, Buffer.concat(parts));
}
