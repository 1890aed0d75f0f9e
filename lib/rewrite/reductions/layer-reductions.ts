import type { AffineScores } from './affine-scores.js';
import { columnSums } from './column-sums.js';
import { entropy, entropyOfProbabilities } from './entropy.js';
import { headMeanNodes } from './head-mean.js';
import { keySetProduct } from './key-set-product.js';
import { rolloutStep } from './rollout-step.js';
import type { LayerNodes } from './shared.js';
import { type ReductionPlan } from '../reduction-plan.js';

/** What a layer's reductions read, whole or a block of its queries at a time. */
export interface LayerReductionInputs {
  /** float32 P `[batch, heads, rows, T]`. */
  p: string;
  /** The scores its Softmax took. */
  scores: string;
  /** Rollout after the layer before, `[batch, 1, T, R]`: P multiplies it whole. */
  previousRollout: string;
  /** Whether a constant of the graph holds −∞. */
  infiniteMasks: boolean;
  /** P was half precision (now cast): its entropy −Σ p ln p elementwise, whose few digits make ln Z − Σ p·z too coarse. */
  halfPrecision: boolean;
  /** Scores affine in q·k (with the rows' queries), and where the rows' own keys are not row for row those queries. */
  affine?: AffineScores;
  ownKeys?: string;
  /** The value norms ‖v_j W_O^h‖ `[batch, heads, T, 1]` (keys, whole in blocks too), where the plan weighs by values. */
  valueNorms?: string;
  /** A block's rows: query-indexed tensors cut to them, and their 0/1 weights `[1, 1, B, 1]` (repeated rows 0). */
  block?: { rowsOf: (tensor: string) => string; valid: string };
}

/** The names of a layer's reductions, each where the plan asks for it. */
export interface LayerReductions {
  mass: string;
  valueMass?: string;
  columnSums?: string;
  rollout?: string;
  entropy?: string;
  mean?: string;
}

/** Every reduction of a layer's P (or of a block of its rows) the plan asks for, in float32. */
export function layerReductions(nodes: LayerNodes, plan: ReductionPlan, inputs: LayerReductionInputs): LayerReductions {
  const { p, affine } = inputs;
  const masses = keySetProduct(nodes, p, { ...(plan.rolloutResidual !== undefined ? { rollout: inputs.previousRollout } : {}), ...(affine ? { keys: affine.keys } : {}), ...(inputs.valueNorms ? { valueNorms: inputs.valueNorms } : {}) });
  const reductions: LayerReductions = { mass: masses.mass, ...(masses.valueMass ? { valueMass: masses.valueMass } : {}) };
  if (plan.columnSums) reductions.columnSums = columnSums(nodes, p, plan.columnSums, masses, inputs.block?.valid);
  if (plan.rolloutResidual !== undefined) reductions.rollout = rolloutStep(nodes, inputs.block ? inputs.block.rowsOf(inputs.previousRollout) : inputs.previousRollout, masses);
  if (plan.entropy) {
    reductions.entropy = inputs.halfPrecision
      ? entropyOfProbabilities(nodes, p)
      : entropy(nodes, { p, scores: inputs.scores, ...(affine ? { affine } : {}), ...(inputs.ownKeys ? { ownKeys: inputs.ownKeys } : {}), infiniteMasks: inputs.infiniteMasks, mass: masses.mass, rowMass: masses.rowMass, product: masses.product, keysFrom: masses.keysFrom });
  }
  if (plan.meanLayers.includes(nodes.layer)) reductions.mean = headMeanNodes(nodes, p);
  return reductions;
}
