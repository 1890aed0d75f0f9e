import { Option, type Command } from 'commander';
import { ATTENTION_FORMS, NORM_FORMS, SHIPPED_TOKENIZER, synthCheckpoint, type SynthOptions } from '../../lib/synth/synth-checkpoint.js';
import { tokenizerVocabSize } from '../../lib/tokenize/tokenizer.js';
import { positiveInteger, positiveNumber, wholeNumber, type CliContext } from '../context.js';

/** The flags are the synthetic model's options, and the folder to write it to. */
type SynthFlags = SynthOptions & { out: string };

const ATTENTION_HELP =
  "how attention is written: decomposed (MatMul → Softmax → MatMul, as PyTorch exports it); gqa (com.microsoft GroupQueryAttention with rotary inside and packed query/key/value, as onnxruntime's model builder writes it); gqa-rotary-outside; gqa-unpacked; mha (com.microsoft MultiHeadAttention, as onnxruntime's optimizer fuses it); onnx-attention (ONNX Attention, opset 23, as PyTorch exports scaled_dot_product_attention); ms-attention (com.microsoft Attention, q/k/v projected inside the kernel, as onnxruntime's optimizer fuses GPT-2-like models; needs --positions none). The same seed gives the same weights in every form";
const NORM_HELP =
  "how RMSNorm and the residual additions are written: decomposed (as PyTorch exports them); fused (SimplifiedLayerNormalization and com.microsoft SkipSimplifiedLayerNormalization, as onnxruntime's model builder writes them). The same seed gives the same weights";

/** `legal-attn synth`: a Mistral-architecture checkpoint with seeded random weights. */
export function registerSynth(program: Command, context: CliContext): void {
  program
    .command('synth')
    .description('write a Mistral-architecture ONNX checkpoint with seeded random weights (graph, model.onnx_data, the shipped tokenizer or --tokenizer, config.json), to test and benchmark 7B-shaped attention without 7B weights')
    .requiredOption('-o, --out <dir>', 'checkpoint folder to write')
    .option('--layers <n>', 'decoder layers', positiveInteger('--layers'), 32)
    .option('--heads <n>', 'attention heads', positiveInteger('--heads'), 32)
    .option('--kv-heads <n>', 'key/value heads (grouped-query attention)', positiveInteger('--kv-heads'), 8)
    .option('--hidden <n>', 'hidden size (heads × head size)', positiveInteger('--hidden'), 256)
    .option('--vocab <n>', "vocabulary size (embedding rows): by default the tokenizer's highest id + 1, 4096 for the shipped tokenizer", positiveInteger('--vocab'))
    .option('--tokenizer <file>', "a tokenizer.json to carry instead of the shipped tokenizer (a real model's: the model reads its ids)")
    .option('--sliding-window <n>', 'attend to at most this many previous tokens, as Mistral-7B v0.1 does', positiveInteger('--sliding-window'))
    .addOption(new Option('--attention <form>', ATTENTION_HELP).choices([...ATTENTION_FORMS]).default('decomposed'))
    .addOption(new Option('--norm <form>', NORM_HELP).choices([...NORM_FORMS]).default('decomposed'))
    .option('--softcap <cap>', 'scaled scores s become cap·tanh(s / cap) before the mask, as Gemma 2 does (decomposed and gqa forms)', positiveNumber('--softcap'))
    .option('--rotary-interleaved', 'rotary on adjacent channel pairs, as GPT-J does, instead of on the two halves')
    .addOption(new Option('--positions <kind>', 'position encoding: rotary, or none (no position encoding, for --attention ms-attention)').choices(['rotary', 'none']).default('rotary'))
    .option('--max-positions <n>', 'positions of the rotary tables (the longest text the model takes)', positiveInteger('--max-positions'), 8192)
    // not the analysis --seed of the option table: any whole number, and only the weights'
    .option('--seed <n>', 'seed of the random weights', wholeNumber('--seed'), 1)
    .action(async (options: SynthFlags) => {
      const vocab = options.vocab ?? (await tokenizerVocabSize(options.tokenizer ?? SHIPPED_TOKENIZER));
      const { out, ...shape } = options;
      const dir = await synthCheckpoint(out, { ...shape, vocab });
      const described = `${options.layers} layers × ${options.heads} heads (${options.kvHeads} key/value heads), hidden ${options.hidden}, vocabulary ${vocab}`;
      context.emit({ ...options, vocab, out: dir }, `wrote a synthetic checkpoint of ${described}${options.slidingWindow ? `, sliding window ${options.slidingWindow}` : ''}, ${options.attention} attention, ${options.maxPositions} positions, to ${dir}\n`);
    });
}
