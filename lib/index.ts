// legal-attn, the library. Each folder is one stage of the pipeline:
//
//   concepts → tokenize (spans → tokens) → trace (one checkpoint at a time) → measure → compare → render → report
//
// Stages pass plain, serialisable data (typed arrays with their dims), so a later
// stage can start from files as well as from memory.
export { LegalAttnError, exitCodeOf, type LegalAttnErrorCode } from './errors.js';
export type { Concept, ConceptSequence, ConceptSpan, SourceLocation } from './concepts/concept.js';
export { parseMarkup } from './concepts/markup.js';
export { loadConcepts, parseConceptFile } from './concepts/load-concepts.js';
export { spanTokens, conceptTokens, type Offset, type TokenSpan } from './tokenize/align-spans.js';
export { loadTokenizer, tokenizeSequence, type Tokenization, type AlignedSequence, type CheckpointTokenizer } from './tokenize/tokenizer.js';
export { openCheckpoint, attentionGraph, type Checkpoint, type ModelShape } from './trace/checkpoint.js';
export { analyseGraph, findAttentionSoftmax, findAttentionOutputs, type AttentionSite, type GraphAnalysis } from './trace/find-attention.js';
export { describeExport, type ExportFormat } from './trace/export-format.js';
export { traceAttention, type TraceOptions, type SequenceAttention } from './trace/trace.js';
export { cacheRoot } from './trace/cache-folder.js';
export { headMean } from './measure/head-mean.js';
export { attentionShare, SINK_MODES, type SinkMode } from './measure/attention-share.js';
export { measureSequence, DEFAULT_MEASURE_OPTIONS, type SequenceMeasures, type TargetMeasures, type MeasureOptions } from './measure/measure-sequence.js';
export { rolloutConceptMass } from './measure/rollout.js';
export { describeDistribution, type Distribution } from './measure/distribution.js';
export { QUERY_SETS, type QuerySetKind } from './measure/query-set.js';
export { compareCheckpoints, type CompareRequest, type CompareSummary, type NamedModel } from './run-compare.js';
export { measureResults } from './run-measure.js';
export { calibratePair, type CalibrateRequest, type CalibrateSummary } from './calibrate/run-calibrate.js';
export { perturbCheckpoint, type PerturbOptions, type PerturbReport } from './synth/perturb.js';
export { embeddingRowNorms } from './trace/embedding-norms.js';
export { writeReport, type ReportOptions, type ReportSummary } from './report/build-report.js';
export { runBatch, mergeBatches, type BatchRequest, type BatchSummary } from './batch/run-batch.js';
export { synthCheckpoint, type SynthOptions } from './synth/synth-checkpoint.js';
export { readNpy, writeNpy, type Float32Tensor } from './io/npy.js';
export { traceToFolder, MAPS_MODES, type MapsMode, type TraceRequest, type TraceSummary } from './run-trace.js';
export { inspectCheckpoint, formatInspectReport, type InspectReport } from './inspect.js';
export { TOOL_VERSION } from './version.js';
