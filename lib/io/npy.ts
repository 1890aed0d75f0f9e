import { readFile } from 'node:fs/promises';
import { dump, parse } from 'npyjs';
import { badInput } from '../errors.js';
import { writeFileWhole } from './atomic.js';

/** A dense float32 tensor: row-major data and its shape, as onnxruntime and NumPy hold it. */
export interface Float32Tensor {
  data: Float32Array;
  dims: number[];
}

/** Writes a NumPy `.npy` file (float32, C order) that `numpy.load` reads. */
export async function writeNpy(file: string, tensor: Float32Tensor): Promise<void> {
  await writeFileWhole(file, new Uint8Array(dump(tensor.data, tensor.dims, { dtype: 'f4' })));
}

/** Reads a float32 `.npy` file written by `writeNpy` or by NumPy. */
export async function readNpy(file: string): Promise<Float32Tensor> {
  const bytes = await readFile(file);
  const array = parse(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  if (!(array.data instanceof Float32Array) || array.fortranOrder) {
    throw badInput(`${file}: expected a float32 array in C order, found ${array.dtype}${array.fortranOrder ? ' (Fortran order)' : ''}.`);
  }
  return { data: array.data, dims: array.shape };
}
