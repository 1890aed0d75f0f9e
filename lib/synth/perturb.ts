import { copyFile, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomLcg, randomNormal } from 'd3-random';
import { badInput } from '../errors.js';
import { makeFolder, writeFolderWhole, writeJson } from '../io/atomic.js';
import { findTokenEmbedding } from '../checkpoint/embedding-norms.js';
import { graphFileName } from '../checkpoint/genai-config.js';
import { elementCount, externalPlace, readInitializer, replaceInlineData, rewriteExternalData, shapeOf, toFloat32, typeName, type ExternalPlace } from '../onnx/initializers.js';
import { decodeModel } from '../onnx/model.js';
import { LARGEST_FINITE, fromFloat32 } from './half-precision.js';
import { FLOAT_TYPES, type GraphProto, type TensorProto } from '../onnx/proto.js';

export interface PerturbOptions {
  /** Gaussian noise on every floating-point initializer of at least 2 dimensions: sd = scale × that tensor's own sd. */
  noise?: { scale: number; seed: number };
  /** Gaussian noise whose sd, per such tensor, is the RMS of (other − source) for the tensor of the same name in checkpoint folder `other` (a concept-agnostic change as large as the real one between the two). */
  matchDifference?: { other: string; seed: number };
  /**
   * A change at some rows of the token embedding table only (the initializer read by the
   * Gather on input_ids), after any noise: extra noise of sd = scale × the table's sd, or
   * with `erase` the rows set to zero, so that nothing can be read at those tokens (a
   * change of what later tokens can take from them, for knockout).
   */
  plant?: { tokens: readonly number[]; scale: number; seed: number; erase?: boolean };
}

export interface PerturbReport {
  out: string;
  perturbed: number;
  /** float tensors left as they are (under 2 dims) and non-float (quantized/integer) tensors, with why */
  unchanged: Array<{ name: string; reason: string }>;
  bytes: number;
}

/** A checkpoint folder's graph, read once. */
interface Folder {
  dir: string;
  graphFile: string;
  bytes: Uint8Array;
  graph: GraphProto;
}

/** One initializer to rewrite: where it lies, and what is added to it. */
interface Task {
  index: number;
  tensor: TensorProto;
  place: ExternalPlace | undefined;
  planted: boolean;
}

/** A 32-bit seed for item `index` (a tensor's index in the graph, a token id) from the user's seed: hashed, so that no item's draws depend on another's. */
export function derivedSeed(seed: number, index: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul((seed / 0x100000000) | 0, 0x27d4eb2f) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return ((h ^ (h >>> 16)) >>> 0) || 1;
}

/** Population standard deviation of the finite values, in float64. */
export function standardDeviation(values: Float32Array): number {
  // indexed loops: a typed array's iterator is several times slower on large tensors
  let n = 0;
  let sum = 0;
  for (let k = 0; k < values.length; k++) {
    const v = values[k]!;
    if (!Number.isFinite(v)) continue;
    n++;
    sum += v;
  }
  const mean = sum / Math.max(1, n);
  let squares = 0;
  for (let k = 0; k < values.length; k++) {
    const v = values[k]!;
    if (Number.isFinite(v)) squares += (v - mean) ** 2;
  }
  return Math.sqrt(squares / Math.max(1, n));
}

/** √mean((b − a)²) over the elements finite in both. */
export function rmsDifference(a: Float32Array, b: Float32Array): number {
  let n = 0;
  let squares = 0;
  for (let k = 0; k < a.length; k++) {
    const d = b[k]! - a[k]!;
    if (!Number.isFinite(d)) continue;
    n++;
    squares += d * d;
  }
  return Math.sqrt(squares / Math.max(1, n));
}

/** Adds N(0, sd²) draws seeded by `seed` to each finite value, kept finite (within ±largest). */
function addNoise(values: Float32Array, sd: number, seed: number, largest: number): void {
  const normal = randomNormal.source(randomLcg(seed))(0, sd);
  for (let k = 0; k < values.length; k++) {
    const v = values[k]!;
    if (Number.isFinite(v)) values[k] = Math.min(largest, Math.max(-largest, v + normal()));
  }
}

async function readFolder(dir: string, role: string): Promise<Folder> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw badInput(`${dir}: no such checkpoint folder; pass as ${role} a folder holding model.onnx (and its external data).`);
  const graphFile = path.join(path.resolve(dir), await graphFileName(dir));
  const bytes = await readFile(graphFile).catch((error: unknown) => {
    throw badInput(`${graphFile}: cannot read the ${role} checkpoint's graph (${(error as NodeJS.ErrnoException).code ?? String(error)}); a checkpoint folder holds its graph as model.onnx (or as its genai_config.json names it).`, error);
  });
  try {
    return { dir: path.resolve(dir), graphFile, bytes, graph: decodeModel(bytes).graph ?? {} };
  } catch (error) {
    throw badInput(`${graphFile}: not an ONNX model (${String(error).split('\n')[0]}); export it again.`, error);
  }
}

const ADVICE = 'matchDifference needs a checkpoint of the same architecture and export (the same initializer names and shapes)';

/** The other checkpoint's initializers by name, checked to match the source's names and shapes. */
function matchTensors(source: Folder, other: Folder): Map<string, TensorProto> {
  const byName = new Map((other.graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const ours = new Set((source.graph.initializer ?? []).map((t) => t.name ?? ''));
  for (const t of source.graph.initializer ?? []) {
    const o = byName.get(t.name ?? '');
    if (!o) throw badInput(`${other.graphFile}: has no initializer ${t.name ?? ''}, which ${source.graphFile} has; ${ADVICE}.`);
    if (shapeOf(o).join(',') !== shapeOf(t).join(',')) throw badInput(`${other.graphFile}: initializer ${t.name ?? ''} is [${shapeOf(o).join(', ')}] where ${source.graphFile} has [${shapeOf(t).join(', ')}]; ${ADVICE}.`);
    if (FLOAT_TYPES.has(t.dataType ?? 0) && !FLOAT_TYPES.has(o.dataType ?? 0)) throw badInput(`${other.graphFile}: initializer ${t.name ?? ''} is ${typeName(o.dataType)}, not a float type as in ${source.graphFile}; ${ADVICE}.`);
  }
  const extra = [...byName.keys()].find((name) => !ours.has(name));
  if (extra !== undefined) throw badInput(`${other.graphFile}: has an initializer ${extra}, which ${source.graphFile} has not; ${ADVICE}.`);
  return byName;
}

function checkOptions(options: PerturbOptions): void {
  if (options.noise && options.matchDifference) throw badInput('perturb: give noise or matchDifference, not both.');
  if (!options.noise && !options.matchDifference && !options.plant) throw badInput('perturb: nothing to do; give noise, matchDifference or plant.');
  for (const [what, scale] of [['noise', options.noise?.scale], ['plant', options.plant?.scale]] as const) {
    if (scale !== undefined && !(Number.isFinite(scale) && scale > 0)) throw badInput(`perturb: ${what} scale ${scale} must be a positive number.`);
  }
  for (const [what, seed] of [['noise', options.noise?.seed], ['matchDifference', options.matchDifference?.seed], ['plant', options.plant?.seed]] as const) {
    if (seed !== undefined && !Number.isSafeInteger(seed)) throw badInput(`perturb: ${what} seed ${seed} must be an integer.`);
  }
  if (options.plant?.tokens.length === 0) throw badInput('perturb: plant needs at least one token id.');
}

/** The index of the float embedding table that `plant` changes, its token ids checked. */
function plantedTable(source: Folder, tokens: readonly number[]): number {
  const embedding = findTokenEmbedding(source.graph);
  if (typeof embedding === 'string' || embedding.kind !== 'float') {
    throw badInput(`${source.graphFile}: plant needs a float token embedding table, and ${typeof embedding === 'string' ? embedding : `${embedding.table.name ?? ''} is stored as ${typeName(embedding.table.dataType)}`}; plant a float checkpoint.`);
  }
  const rows = shapeOf(embedding.table)[0] ?? 0;
  const outside = tokens.find((t) => !Number.isInteger(t) || t < 0 || t >= rows);
  if (outside !== undefined) throw badInput(`perturb: plant token id ${outside} is outside the embedding table of ${source.graphFile} (${rows} rows); pass ids of this model's tokenizer.`);
  return (source.graph.initializer ?? []).indexOf(embedding.table);
}

const INTEGER_TYPES = new Set([2, 3, 4, 5, 6, 7, 9, 12, 13, 21, 22]); // uint8 … int64, bool, uint16 … uint64, 4-bit

/** Why a tensor is left as it is, or undefined when it is perturbed. */
function whyUnchanged(tensor: TensorProto, noise: boolean, planted: boolean): string | undefined {
  const type = tensor.dataType ?? 0;
  if (INTEGER_TYPES.has(type)) return `${typeName(type)} (integer or quantized): copied as it is`;
  if (!FLOAT_TYPES.has(type)) return `${typeName(type)}: copied as it is (only float32, float16 and bfloat16 tensors are perturbed)`;
  if (planted) return undefined;
  if (shapeOf(tensor).length < 2) return `${shapeOf(tensor).length}-d (a norm weight, bias or scalar): left as it is`;
  if (elementCount(tensor) === 0) return 'empty';
  return noise ? undefined : 'plant only: not the embedding table';
}

const inside = (folder: string, file: string): boolean => !path.relative(folder, file).startsWith('..');

/** Refuses an output folder that holds a checkpoint read, lies in one, or holds files that are not an earlier perturbed copy (it is replaced whole). */
async function checkTarget(target: string, read: ReadonlyArray<string | undefined>): Promise<void> {
  for (const source of read) {
    if (source && (inside(source, target) || inside(target, source))) throw badInput(`${target}: the perturbed copy cannot be written in or over the checkpoint folder ${source}; choose another output folder.`);
  }
  const entries = await readdir(target).catch(() => [] as string[]);
  if (entries.length > 0 && !entries.includes('perturbation.json')) throw badInput(`${target}: holds files that are not a perturbed checkpoint, and would be replaced; choose a new or empty output folder.`);
}

/** Every file below a folder, relative to it. */
async function filesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

/**
 * Writes to `out` a copy of the checkpoint folder `source` whose float weights have seeded
 * Gaussian noise added (see PerturbOptions): every tensor with the same offset in a data
 * file of the same name, streamed one tensor at a time; model.onnx copied byte for byte,
 * or with only the inline data of perturbed tensors rewritten; every other file copied; and
 * perturbation.json saying what was done (the sd added to each tensor). Tensor i's noise is
 * drawn from randomLcg(derivedSeed(seed, i)), planted row t's from derivedSeed(plant seed, t).
 */
export async function perturbCheckpoint(source: string, out: string, options: PerturbOptions): Promise<PerturbReport> {
  checkOptions(options);
  const src = await readFolder(source, 'source');
  const target = path.resolve(out);
  const other = options.matchDifference ? await readFolder(options.matchDifference.other, 'matchDifference') : undefined;
  await checkTarget(target, [src.dir, other?.dir]);
  const others = other ? matchTensors(src, other) : undefined;
  const plant = options.plant;
  const table = plant ? plantedTable(src, plant.tokens) : -1;
  const noiseSeed = options.noise?.seed ?? options.matchDifference?.seed ?? 0;
  const unchanged: PerturbReport['unchanged'] = [];
  const tasks: Task[] = [];
  const noisy = options.noise !== undefined || others !== undefined;
  (src.graph.initializer ?? []).forEach((tensor, index) => {
    const reason = whyUnchanged(tensor, noisy, index === table);
    if (reason !== undefined) unchanged.push({ name: tensor.name ?? '', reason });
    else tasks.push({ index, tensor, place: externalPlace(tensor, src.dir), planted: index === table });
  });
  const sds: Record<string, number> = {};
  let plantSd = 0;
  let perturbed = 0;

  /** The task's data with its noise (and planted rows) added, in its own element type. */
  const change = async (task: Task, bytes: Uint8Array): Promise<Uint8Array> => {
    const type = task.tensor.dataType ?? 0;
    const values = toFloat32(bytes, type);
    const own = standardDeviation(values);
    const sd = !noisy ? 0 : options.noise ? options.noise.scale * own : rmsDifference(values, await otherValues(task.tensor));
    if (sd > 0) addNoise(values, sd, derivedSeed(noiseSeed, task.index), LARGEST_FINITE[type]!);
    if (task.planted) {
      const width = shapeOf(task.tensor)[1] ?? 0;
      plantSd = plant!.scale * own;
      for (const token of new Set(plant!.tokens)) {
        const row = values.subarray(token * width, (token + 1) * width);
        if (plant!.erase) row.fill(0);
        else addNoise(row, plantSd, derivedSeed(plant!.seed, token), LARGEST_FINITE[type]!);
      }
    }
    sds[task.tensor.name ?? ''] = sd;
    if (sd === 0 && !task.planted) {
      unchanged.push({ name: task.tensor.name ?? '', reason: options.noise ? 'constant (its sd is 0): left as it is' : 'identical in the other checkpoint: left as it is' });
      return bytes;
    }
    perturbed++;
    return fromFloat32(values, type);
  };
  const otherValues = async (tensor: TensorProto): Promise<Float32Array> => {
    const theirs = others!.get(tensor.name ?? '')!;
    return toFloat32(await readInitializer(theirs, other!.dir), theirs.dataType ?? 0);
  };

  const graphName = path.basename(src.graphFile);
  const bytes = await writeFolderWhole(target, async (staging) => {
    const locations = new Set(tasks.flatMap((t) => (t.place ? [path.normalize(t.place.location)] : [])));
    for (const file of await filesBelow(src.dir)) {
      if (file === graphName || locations.has(file) || file === 'perturbation.json') continue;
      await makeFolder(path.dirname(path.join(staging, file)));
      await copyFile(path.join(src.dir, file), path.join(staging, file));
    }
    for (const location of locations) {
      const own = tasks.filter((t) => t.place && path.normalize(t.place.location) === location);
      await makeFolder(path.dirname(path.join(staging, location)));
      await rewriteExternalData(path.join(src.dir, location), path.join(staging, location), own.map((t) => t.place!), (k, bytes) => change(own[k]!, bytes));
    }
    const inline = new Map<number, Uint8Array>();
    for (const task of tasks.filter((t) => !t.place)) {
      const data = await readInitializer(task.tensor, src.dir);
      const changed = await change(task, data);
      if (changed !== data) inline.set(task.index, changed);
    }
    await writeFile(path.join(staging, graphName), inline.size > 0 ? replaceInlineData(src.bytes, inline) : src.bytes);
    const recorded = { ...options, ...(options.matchDifference ? { matchDifference: { ...options.matchDifference, other: other!.dir } } : {}) };
    await writeJson(path.join(staging, 'perturbation.json'), { source: src.dir, options: recorded, sd: sds, ...(plant ? { plant: { table: src.graph.initializer![table]!.name, sd: plantSd } } : {}), unchanged });
    let total = 0;
    for (const file of await filesBelow(staging)) total += (await stat(path.join(staging, file))).size;
    return total;
  });
  return { out: target, perturbed, unchanged, bytes };
}
