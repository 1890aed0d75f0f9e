import { constantTensor, floatInput, intAttribute, intsAttribute, NodeList } from '../../onnx/build.js';
import { type ReductionPlan } from '../reduction-plan.js';
import { type TensorProto, type ValueInfoProto } from '../../onnx/proto.js';

/** Extra inputs: per sequence, K key sets as 0/1 columns over the tokens, `[batch, T, K]`; column 0 is every real key, column 1 the sink. */
export const KEY_SETS_INPUT = 'legal_attn_key_sets';
/** `[batch, T, 2]`: column 0 marks real query tokens, column 1 real query tokens after the first (the sink-excluding rows). */
export const QUERIES_INPUT = 'legal_attn_queries';
/** `[batch, T, R]`: the vectors rollout starts from, one 0/1 column per target. */
export const ROLLOUT_INPUT = 'legal_attn_rollout';
/** `[batch, T, C]`: key j in key cell c, 0/1, where head-averaged maps are kept pooled (long texts). */
export const MAP_CELLS_INPUT = 'legal_attn_map_cells';

/** Constants and fed tensors every layer's reductions read, made once before the graph's first node. */
export interface Shared {
  /** The node list of the prologue. */
  prologue: NodeList;
  /** Constants, added to the graph only where some node reads them. */
  constants: TensorProto[];
  inputs: ValueInfoProto[];
  opset: number;
  axis: { one: string; last: string; query: string };
  index: [string, string, string, string];
  scalarZero: string;
  lastColumn: string;
  tiny: string;
  lowest: string;
  zero: string;
  /** Rollout's residual weight r and 1 − r. */
  kept: string;
  mixed: string;
  /** `[batch, 1, T, K]`. */
  keySets: string;
  /** K and R as one-element tensors, read off the fed inputs at run time. */
  keySetCount: string;
  rolloutCount: string;
  /** `[batch, 1, T, 1]` column weights of the real queries and of those after the first. */
  realQueries: string;
  laterQueries: string;
  /** `[batch, 1, T, R]`. */
  rolloutStart: string;
  /** `[batch, T, C]` cells of keys the head-averaged maps are summed over, or '' where they are kept whole. */
  mapCells: string;
  /** `[1, 1, T, 1]`: 0 … T−1, each query's own key. */
  diagonalIndex: string;
  /** T, the padded length, an int64 scalar. */
  length: string;
}

/** The graph inputs and constants of a plan, and the prologue that shapes them. */
export function sharedTensors(plan: ReductionPlan, opset: number): Shared {
  const constants: TensorProto[] = [];
  const constant = (name: string, values: number[], dims: number[], type: 'float' | 'int64'): string => {
    constants.push(constantTensor(name, values, dims, type));
    return name;
  };
  const prologue = new NodeList();
  const add = prologue.add.bind(prologue);
  const axis = { one: constant('legal_attn.axis_1', [1], [1], 'int64'), last: constant('legal_attn.axis_last', [-1], [1], 'int64'), query: constant('legal_attn.axis_query', [-2], [1], 'int64') };
  const index = [0, 1, 2, 3].map((k) => constant(`legal_attn.index_${k}`, [k], [1], 'int64')) as Shared['index'];
  const scalarZero = constant('legal_attn.scalar_0', [0], [], 'int64');
  const scalarOne = constant('legal_attn.scalar_1', [1], [], 'int64');
  const residual = plan.rolloutResidual ?? 0.5;
  const column = (input: string, from: string, to: string, output: string): string => add('Slice', [input, from, to, axis.last], output);

  const inputs = [floatInput(KEY_SETS_INPUT, ['batch', 'seq', 'key_sets'])];
  const keySets = add('Unsqueeze', [KEY_SETS_INPUT, axis.one], 'legal_attn.key_sets_4d');
  let realQueries = '';
  let laterQueries = '';
  if (plan.columnSums === 'weighted') {
    const queries = add('Unsqueeze', [QUERIES_INPUT, axis.one], 'legal_attn.queries_4d');
    realQueries = column(queries, index[0], index[1], 'legal_attn.real_queries');
    laterQueries = column(queries, index[1], index[2], 'legal_attn.later_queries');
    inputs.push(floatInput(QUERIES_INPUT, ['batch', 'seq', 'query_sets']));
  }
  let rolloutStart = '';
  let rolloutCount = '';
  if (plan.rolloutResidual !== undefined) {
    rolloutStart = add('Unsqueeze', [ROLLOUT_INPUT, axis.one], 'legal_attn.rollout_start');
    rolloutCount = add('Slice', [add('Shape', [ROLLOUT_INPUT], 'legal_attn.rollout_shape'), index[2], index[3]], 'legal_attn.rollout_count');
    inputs.push(floatInput(ROLLOUT_INPUT, ['batch', 'seq', 'rollout_targets']));
  }
  const mapCells = plan.mapCells && plan.meanLayers.length > 0 ? MAP_CELLS_INPUT : '';
  if (mapCells) inputs.push(floatInput(MAP_CELLS_INPUT, ['batch', 'seq', 'map_cells']));
  // The key-set count and the padded length, read off the fed key sets at run time.
  const keySetShape = add('Shape', [KEY_SETS_INPUT], 'legal_attn.key_sets_shape');
  const keySetCount = add('Slice', [keySetShape, index[2], index[3]], 'legal_attn.key_set_count');
  const length = add('Squeeze', [add('Slice', [keySetShape, index[1], index[2]], 'legal_attn.length_1d'), index[0]], 'legal_attn.length');
  const positions = add('Range', [scalarZero, length, scalarOne], 'legal_attn.positions');
  const diagonalIndex = add('Reshape', [positions, constant('legal_attn.as_query_column', [1, 1, -1, 1], [4], 'int64')], 'legal_attn.diagonal_index');
  return {
    prologue,
    constants,
    inputs,
    opset,
    axis,
    index,
    scalarZero,
    lastColumn: constant('legal_attn.index_end', [2 ** 53], [1], 'int64'),
    tiny: constant('legal_attn.tiny', [1e-30], [], 'float'),
    lowest: constant('legal_attn.lowest', [-3e38], [], 'float'),
    zero: constant('legal_attn.zero', [0], [], 'float'),
    kept: constant('legal_attn.residual', [residual], [], 'float'),
    mixed: constant('legal_attn.mixed', [1 - residual], [], 'float'),
    keySets,
    keySetCount,
    rolloutCount,
    realQueries,
    laterQueries,
    rolloutStart,
    mapCells,
    diagonalIndex,
    length,
  };
}

/** The nodes of one layer's reductions, with the helpers every emitter uses. */
export class LayerNodes extends NodeList {
  constructor(
    readonly shared: Shared,
    readonly layer: number,
  ) {
    super();
  }

  /** `op` over one axis; ReduceSum takes its axes as an input from opset 13 on, ReduceMean and ReduceMax only from 18. */
  reduce(op: 'ReduceMean' | 'ReduceMax' | 'ReduceSum', input: string, axis: 1 | -1 | -2, keepdims: 0 | 1, output: string): string {
    const { axis: axes, opset } = this.shared;
    return op === 'ReduceSum' || opset >= 18
      ? this.add(op, [input, axis === 1 ? axes.one : axis === -1 ? axes.last : axes.query], output, [intAttribute('keepdims', keepdims)])
      : this.add(op, [input], output, [intsAttribute('axes', [axis]), intAttribute('keepdims', keepdims)]);
  }

  /** Columns `[from, to)` of the last axis. */
  column(input: string, from: string, to: string, output: string): string {
    return this.add('Slice', [input, from, to, this.shared.axis.last], output);
  }

  /** A name of this layer: `legal_attn.<what>.<layer>`. */
  name(what: string): string {
    return `legal_attn.${what}.${this.layer}`;
  }
}

export const massOutput = (layer: number): string => `legal_attn.mass.${layer}`;
export const entropyOutput = (layer: number): string => `legal_attn.entropy.${layer}`;
export const meanOutput = (layer: number): string => `legal_attn.mean.${layer}`;
export const columnSumsOutput = (layer: number): string => `legal_attn.colsum.${layer}`;
export const rolloutOutput = (layer: number): string => `legal_attn.rollout.${layer}`;
export const valueMassOutput = (layer: number): string => `legal_attn.vmass.${layer}`;
export const valueNormsOutput = (layer: number): string => `legal_attn.value_norms.${layer}`;
