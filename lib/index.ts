// legal-attn, the library. Each folder is one layer, and every import points down:
//
//   concepts → tokenize → reference (what a target is judged against)
//   onnx (wire, decode, build) → checkpoint (open, find attention, readers) → rewrite (reduced graphs)
//   → measure → runtime (sessions, passes, trace cache) → plan (planned sequences) → compare → represent
//   → options → results (every file a run writes and reads) → measurers → render → report → commands
//
// Stages pass plain, serialisable data (typed arrays with their dims), so a later stage
// can start from files as well as from memory; bin/ parses the command line and calls
// one module of commands/ per command.
export { LegalAttnError, exitCodeOf, type LegalAttnErrorCode } from './errors.js';
export type { Concept, ConceptSequence, ConceptSpan, SourceLocation } from './concepts/concept.js';
export { parseMarkup } from './concepts/markup.js';
export { loadConcepts, parseConceptFile } from './concepts/load-concepts.js';
export { spanTokens, conceptTokens, type Offset, type TokenSpan } from './tokenize/align-spans.js';
export { loadTokenizer, tokenizeSequence, type Tokenization, type AlignedSequence, type CheckpointTokenizer } from './tokenize/tokenizer.js';
export { openCheckpoint, type Checkpoint } from './checkpoint/checkpoint.js';
export type { ModelShape } from './checkpoint/model-shape.js';
export { attentionGraph } from './rewrite/attention-graph.js';
export { analyseGraph, findAttentionSoftmax, findAttentionOutputs } from './checkpoint/find-attention.js';
export type { AttentionSite, GraphAnalysis } from './checkpoint/graph-analysis.js';
export { describeExport } from './checkpoint/export-format.js';
export type { ExportFormat } from './checkpoint/graph-analysis.js';
export { traceAttention, type TraceOptions, type SequenceAttention } from './runtime/passes.js';
export { cacheRoot } from './checkpoint/cache-folder.js';
export { headMean } from './measure/head-mean.js';
export { attentionShare, SINK_MODES, type SinkMode } from './measure/attention-share.js';
export { measureSequence, type SequenceMeasures, type TargetMeasures, type MeasureOptions } from './measure/measure-sequence.js';
export { rolloutConceptMass } from './measure/rollout.js';
export { describeDistribution, type Distribution } from './measure/distribution.js';
export { QUERY_SETS, type QuerySetKind } from './measure/query-set.js';
export { compareCheckpoints, type CompareRequest, type CompareSummary, type NamedModel } from './commands/compare.js';
export { measureResults } from './commands/measure.js';
export { resolveAnalysis, type AnalysisOptions, type ResolvedAnalysis } from './options/analysis-options.js';
export { calibratePair, type CalibrateRequest, type CalibrateSummary } from './commands/calibrate.js';
export { perturbCheckpoint, type PerturbOptions, type PerturbReport } from './synth/perturb.js';
export { embeddingRowNorms } from './checkpoint/embedding-norms.js';
export { writeReport, type ReportOptions, type ReportSummary } from './report/build-report.js';
export { runBatch, mergeBatches, type BatchRequest, type BatchSummary } from './commands/batch.js';
export { synthCheckpoint, type SynthOptions } from './synth/synth-checkpoint.js';
export { readNpy, writeNpy, type Float32Tensor } from './io/npy.js';
export { traceToFolder, type TraceRequest, type TraceSummary } from './commands/trace.js';
export { MAPS_MODES, type MapsMode } from './measure/maps-mode.js';
export { inspectCheckpoint, formatInspectReport, type InspectReport } from './commands/inspect.js';
export { TOOL_VERSION } from './version.js';
