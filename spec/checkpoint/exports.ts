import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, modelDir, temporaryFolder, type ReferenceProbe } from '../helpers.js';

const run = promisify(execFile);

export const MAKE_EXPORTS = path.join(ROOT, 'spec', 'fixtures', 'exports', 'make-exports.py');

/** A Python with the `onnx` package (Debian's python3-onnx), or undefined. */
export async function pythonWithOnnx(): Promise<string | undefined> {
  for (const python of [process.env.LEGAL_ATTN_PYTHON, '/usr/bin/python3', 'python3']) {
    if (!python) continue;
    const ok = await run(python, ['-c', 'import onnx, numpy'], { timeout: 60_000 }).then(
      () => true,
      () => false,
    );
    if (ok) return python;
  }
  return undefined;
}

export const NO_PYTHON_ONNX =
  'these specs make their checkpoints with Python\'s onnx package, as users\' tools do: install it (apt-get install python3-onnx python3-numpy, as .ci/run does) or point LEGAL_ATTN_PYTHON at a python3 that has it';

/**
 * Checkpoint folders in the formats other tools write (`make-exports.py`), made from a
 * tiny checkpoint into a temporary folder. Undefined where no Python has `onnx`.
 */
export async function makeExports(source: 'base' | 'base-dynamo'): Promise<string | undefined> {
  const python = await pythonWithOnnx();
  if (!python) return undefined;
  const out = path.join(await temporaryFolder('legal-attn-exports-'), source);
  await run(python, [MAKE_EXPORTS, modelDir(source), out], { timeout: 300_000 });
  return out;
}

/** Concept share per layer and head of one probe: mean over queries of the attention on the span's tokens. */
export function sharesOf(map: Float32Array, dims: readonly number[], probe: ReferenceProbe): Float64Array {
  const [layers = 0, heads = 0, T = 0] = dims;
  const concept = probe.offsets.flatMap(([a, b], t) => (b > a && probe.spans.some(([s, e]) => a < e && b > s) ? [t] : []));
  const shares = new Float64Array(layers * heads);
  for (let m = 0; m < layers * heads; m++) {
    for (let i = 0; i < T; i++) for (const j of concept) shares[m]! += map[(m * T + i) * T + j]! / T;
  }
  return shares;
}

/** The exports of `source`, or this suite skipped where Python's onnx is missing (an error in CI, where .ci/run installs it). */
export async function exportsOrSkip(suite: Mocha.Context, source: 'base' | 'base-dynamo'): Promise<string> {
  const made = await makeExports(source);
  if (made) return made;
  if (process.env.CI) throw new Error(NO_PYTHON_ONNX);
  console.warn(`  skipped: ${NO_PYTHON_ONNX}`);
  return suite.skip();
}

/** A python3 with onnx and numpy for a numpy reference, or this suite skipped without one (an error in CI). */
export async function pythonOrSkip(suite: Mocha.Context, reference: string): Promise<string> {
  const python = await pythonWithOnnx();
  if (python) return python;
  const why = `${reference} is a numpy forward pass of the ONNX weights: install python3-onnx and python3-numpy (as .ci/run does) or point LEGAL_ATTN_PYTHON at a python3 that has them`;
  if (process.env.CI) throw new Error(why);
  console.warn(`  skipped: ${why}`);
  return suite.skip();
}
