import { z } from 'zod';
import { readJsonFile } from '../io/json-file.js';
import { conceptTokens } from '../tokenize/align-spans.js';
import type { AlignedSequence } from '../tokenize/tokenizer.js';

const spanSchema = z.object({ start: z.number(), end: z.number(), tokens: z.array(z.number().int()), majority: z.array(z.number().int()).optional(), label: z.string().optional() });

/** tokens.json of one traced sequence: what Python users load beside the maps. */
const tokensFileSchema = z.object({
  concept: z.string().optional(),
  sequence: z.string().optional(),
  paraphraseOf: z.string().optional(),
  // cellTokens: the maps are pooled, each cell the mean of a cellTokens × cellTokens block of the T × T map (long texts)
  attentions: z.object({ file: z.string(), shape: z.array(z.number()), axes: z.array(z.string()), layers: z.array(z.number()).optional(), cellTokens: z.number().int().positive().optional() }).optional(),
  text: z.string(),
  templated: z.string().optional(),
  ids: z.array(z.number().int()),
  tokens: z.array(z.string()),
  offsets: z.array(z.tuple([z.number(), z.number()])),
  spans: z.array(spanSchema),
  conceptTokens: z.array(z.number().int()),
});

export type TokensFile = z.infer<typeof tokensFileSchema>;

// What measuring and the report read: the ids, the spans and, for the report's axes, the tokens.
const readSchema = tokensFileSchema.partial().required({ ids: true, spans: true });

/** Which sequence the file belongs to and which maps lie beside it. */
export type TokensIdentity = Pick<TokensFile, 'concept' | 'sequence' | 'paraphraseOf' | 'attentions'>;

/** tokens.json of one sequence: the tokenization and each span's token indices. */
export function tokensFile(aligned: AlignedSequence, identity: TokensIdentity = {}): TokensFile {
  return {
    ...identity,
    text: aligned.text,
    ...(aligned.templated ? { templated: aligned.templated } : {}),
    ids: Array.from(aligned.ids, Number),
    tokens: aligned.tokens,
    offsets: aligned.offsets.map(([start, end]) => [start, end]),
    spans: aligned.spans,
    conceptTokens: conceptTokens(aligned.spans),
  };
}

/** Reads and checks a tokens.json; a file that is missing or not of this form is named. */
export const readTokensFile = (file: string): Promise<z.infer<typeof readSchema>> =>
  readJsonFile(file, readSchema, { missing: 'the traces are incomplete, run legal-attn compare or trace again.', again: 'run legal-attn compare or trace again.' });
