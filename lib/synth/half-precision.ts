import { typeName } from '../onnx/initializers.js';
import { BFLOAT16, FLOAT, FLOAT16 } from '../onnx/proto.js';

// Node 20 has no Float16Array: the conversions work on the float32 bit pattern.
const word = new Float32Array(1);
const wordBits = new Uint32Array(word.buffer);

/** The float16 bit pattern nearest a number (IEEE rounding to nearest, ties to even; too large → ±Infinity). */
export function floatToHalfBits(value: number): number {
  word[0] = value;
  const x = wordBits[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 112; // float16's biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e >= 1) {
    // normal: drop 13 mantissa bits, rounding; a carry into the exponent is the right result (up to Infinity)
    const rest = mantissa & 0x1fff;
    const half = (e << 10) | (mantissa >>> 13);
    return sign | (rest > 0x1000 || (rest === 0x1000 && half & 1) ? half + 1 : half);
  }
  // subnormal: the 24-bit significand in units of 2^-24
  const shift = 14 - e;
  if (shift > 24) return sign;
  const significand = mantissa | 0x800000;
  const kept = significand >>> shift;
  const rest = significand & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  return sign | (rest > halfway || (rest === halfway && kept & 1) ? kept + 1 : kept);
}

/** The bfloat16 bit pattern nearest a number (the upper half of its float32, rounded to nearest, ties to even). */
export function floatToBfloat16Bits(value: number): number {
  word[0] = value;
  const x = wordBits[0]!;
  if (Number.isNaN(word[0])) return ((x >>> 16) & 0x8000) | 0x7fc0;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The largest finite value of each float type, to keep a perturbed finite value finite. */
export const LARGEST_FINITE: Readonly<Record<number, number>> = { [FLOAT]: 3.4028234663852886e38, [FLOAT16]: 65504, [BFLOAT16]: 3.3895313892515355e38 };

/** float32 values as the data bytes of a float32, float16 or bfloat16 tensor (little-endian, rounded to nearest). */
export function fromFloat32(values: Float32Array, dataType: number): Uint8Array {
  if (dataType === FLOAT) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (dataType !== FLOAT16 && dataType !== BFLOAT16) throw new Error(`fromFloat32: ${typeName(dataType)} is not a float type`);
  const convert = dataType === FLOAT16 ? floatToHalfBits : floatToBfloat16Bits;
  const bits = new Uint16Array(values.length);
  for (let k = 0; k < values.length; k++) bits[k] = convert(values[k]!);
  return new Uint8Array(bits.buffer);
}
