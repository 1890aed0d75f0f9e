import { access, readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { badInput } from '../errors.js';
import { cacheRoot, contentHash, fileHash, openCacheFolder, rememberModelFolder } from './cache-folder.js';
import { analyseGraph } from './find-attention.js';
import { decodeModel } from '../onnx/model.js';
import { byteLength } from '../onnx/initializers.js';
import { type GraphAnalysis } from './graph-analysis.js';
import { GENAI_CONFIG, readGenaiFolder, type InputNames } from './genai-config.js';
import { readShape, type ModelShape } from './model-shape.js';
import { EXTERNAL_DATA_LOCATION, type GraphProto, type ModelProto } from '../onnx/proto.js';

/** A checkpoint folder, checked and analysed: the unit the tracer loads, one at a time. */
export interface Checkpoint {
  dir: string;
  /** Folder name, the default way to refer to it. */
  name: string;
  graphFile: string;
  graph: GraphAnalysis;
  shape: ModelShape;
  /** Input names the folder declares (`genai_config.json`); exporters' conventions otherwise. */
  inputNames: InputNames;
  /** SHA-256 over the graph and its external data: the identity of the weights. */
  contentHash: string;
  /** SHA-256 of tokenizer.json. */
  tokenizerHash: string;
  cacheDir: string;
}

export interface OpenOptions {
  cacheDir?: string;
}

const EXPLICIT_ATTENTION =
  're-export with explicit attention (for example `optimum-cli export onnx --model ID --task text-generation --no-post-process OUT`, without `--optimize`, from a model loaded with attn_implementation="eager"), so that the Softmax of each layer is a node of the graph';

/** What to do about attention legal-attn cannot read, for the tool that wrote the graph. */
function fusedAdvice(producer: string): string {
  if (producer.startsWith('onnxruntime-genai')) return `onnxruntime-genai's model builder wrote this graph: run it again with \`-p fp32 -e cpu\` (GroupQueryAttention, which legal-attn reads), or ${EXPLICIT_ATTENTION}`;
  if (producer.startsWith('onnxruntime.transformers')) return `onnxruntime's transformer optimizer fused this graph: optimize the export again with \`--disable_attention\`, or use it unoptimized, or ${EXPLICIT_ATTENTION}`;
  return `export with onnxruntime's model builder (GroupQueryAttention), or ${EXPLICIT_ATTENTION}`;
}

async function readJsonIfPresent(file: string): Promise<Record<string, unknown> | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw badInput(`${file}: not a JSON object; fix or remove the file.`);
}

/** For each external data file, the bytes the graph's initializers read from it (offset + length). */
function externalDataExtents(graph: GraphProto): Map<string, number> {
  const extents = new Map<string, number>();
  for (const tensor of graph.initializer ?? []) {
    const entries = new Map((tensor.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = entries.get('location');
    if (tensor.dataLocation !== EXTERNAL_DATA_LOCATION || !location) continue;
    const length = entries.has('length') ? Number(entries.get('length')) : (byteLength(tensor) ?? 0);
    const end = Number(entries.get('offset') ?? 0) + length;
    extents.set(location, Math.max(extents.get(location) ?? 0, end));
  }
  return extents;
}

/**
 * Opens a checkpoint folder (`model.onnx` with its external data, `tokenizer.json`,
 * optionally `config.json` and `tokenizer_config.json`; or the decoder and input names a
 * `genai_config.json` declares, as onnxruntime-genai's model builder writes them), finds its attention and hashes
 * its files. Every fault a user can fix is raised here, before any model runs.
 */
export async function openCheckpoint(dir: string, options: OpenOptions = {}): Promise<Checkpoint> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw badInput(`${dir}: no such checkpoint folder; pass --model a folder holding model.onnx and tokenizer.json.`);
  const genai = await readGenaiFolder(dir);
  const graphName = genai?.decoder ?? 'model.onnx';
  const graphFile = path.join(dir, graphName);
  const graphBytes = await readFile(graphFile).catch(async () => {
    if (genai?.decoder) throw badInput(`${graphFile}: not found; ${genai.file} names it as the decoder (model.decoder.filename): copy it beside ${GENAI_CONFIG}.`);
    const others = (await readdir(dir)).filter((name) => name.endsWith('.onnx'));
    const hint = others.length > 0 ? ` (it holds ${others.join(', ')}: name the decoder graph model.onnx, or in a ${GENAI_CONFIG} as onnxruntime-genai does)` : '';
    throw badInput(`${graphFile}: not found${hint}; a checkpoint folder needs the exported graph as model.onnx.`);
  });
  let model: ModelProto;
  try {
    model = decodeModel(graphBytes);
  } catch (error) {
    throw badInput(`${graphFile}: not an ONNX model (${String(error).split('\n')[0]}); export it again.`, error);
  }
  const graph = analyseGraph(model, graphName);
  if (graph.attention.length === 0 && graph.subgraphSoftmax > 0) {
    throw badInput(
      `${graphFile}: a merged decoder (its attention sits inside If subgraphs, with past key/values and without); export it unmerged, for example \`optimum-cli export onnx --model ID --task text-generation OUT\` (no -with-past), or use the decoder_model.onnx of a --no-post-process export, renamed model.onnx.`,
    );
  }

  const extents = externalDataExtents(model.graph ?? {});
  for (const location of graph.externalData) {
    const dataFile = path.resolve(dir, location);
    const inside = !path.relative(dir, dataFile).startsWith('..');
    const size = inside ? (await stat(dataFile).catch(() => undefined))?.size : undefined;
    if (size === undefined) {
      throw badInput(`${dataFile}: external data file named by ${graphFile} is missing; copy it beside ${graphName} (it is written by the exporter with the graph).`);
    }
    const needed = extents.get(location) ?? 0;
    if (size < needed) {
      throw badInput(`${dataFile}: truncated (${size} bytes, where ${graphFile} reads ${needed}); copy or download it again.`);
    }
  }
  const unread = graph.fusedAttention.find((f) => f.unread);
  if (unread && graph.attentionSource !== 'outputs') {
    throw badInput(
      `${graphFile}: attention is fused into ${unread.op} nodes (${graph.fusedAttention.length}, first ${unread.node}) whose probabilities legal-attn cannot compute (${unread.unread}); ${fusedAdvice(graph.producer)}.`,
    );
  }
  if (graph.attention.length === 0) {
    throw badInput(`${graphFile}: no attention found (no Softmax between a query-key product and a product with the values, and no attentions outputs); ${fusedAdvice(graph.producer)}.`);
  }

  const config = await readJsonIfPresent(path.join(dir, 'config.json'));
  const tokenizerConfig = await readJsonIfPresent(path.join(dir, 'tokenizer_config.json'));
  // config.json where the folder has one (Hugging Face's), else what genai_config.json says
  const shape = { ...genai?.shape, ...readShape(config, tokenizerConfig) };
  if (shape.layers !== undefined && shape.layers !== graph.attention.length) {
    const source = config?.num_hidden_layers !== undefined || config?.n_layer !== undefined || config?.num_layers !== undefined ? 'config.json' : GENAI_CONFIG;
    throw badInput(
      `${graphFile}: found attention in ${graph.attention.length} layers but ${source} says ${shape.layers} layers; the graph does not match its config, or some layers use fused attention.`,
    );
  }
  const cacheDir = cacheRoot(options.cacheDir);
  await openCacheFolder(cacheDir);
  const hash = await contentHash(dir, [graphName, ...graph.externalData], cacheDir);
  const tokenizerFile = path.join(dir, 'tokenizer.json');
  if (!(await access(tokenizerFile).then(() => true, () => false))) {
    throw badInput(`${tokenizerFile}: not found; a checkpoint folder needs the tokenizer.json of its model (save it with tokenizer.save_pretrained).`);
  }
  const tokenizerHash = await fileHash(tokenizerFile, cacheDir);
  await rememberModelFolder(cacheDir, hash, path.resolve(dir));
  return { dir: path.resolve(dir), name: path.basename(path.resolve(dir)), graphFile, graph, shape, inputNames: genai?.inputNames ?? {}, contentHash: hash, tokenizerHash, cacheDir };
}
