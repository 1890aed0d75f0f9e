import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Template } from '@huggingface/jinja';
import { badInput } from '../errors.js';

/** A text wrapped in a checkpoint's chat template, and where the text sits inside it. */
export interface TemplatedText {
  rendered: string;
  /** Start of the user text in `rendered`, in UTF-16 units. */
  start: number;
}

type TokenizerConfig = { chat_template?: string | Array<{ name: string; template: string }>; bos_token?: unknown; eos_token?: unknown };

const tokenText = (token: unknown): string =>
  typeof token === 'string' ? token : token && typeof token === 'object' && 'content' in token ? String((token).content) : '';

// A message no template writes itself (private-use code points): where it lands in the
// rendering is where the text goes, whatever the template's markup or system prompt say.
const PLACEHOLDER = '\u{E000}legal-attn message\u{E001}';

/**
 * Loads the chat template of `tokenizer_config.json` and returns a function that wraps
 * one user message in it, rendered with a Jinja implementation made for these templates.
 * The text is placed by where the template puts the message, never by searching for it:
 * a text such as "user" or "INST" also occurs in the markup.
 */
export async function loadChatTemplate(checkpointDir: string): Promise<(text: string) => TemplatedText> {
  const file = path.join(checkpointDir, 'tokenizer_config.json');
  const config = JSON.parse(
    await readFile(file, 'utf8').catch(() => {
      throw badInput(`${file}: not found; --chat-template needs the checkpoint's tokenizer_config.json with its chat_template.`);
    }),
  ) as TokenizerConfig;
  const source = Array.isArray(config.chat_template) ? config.chat_template.find((t) => t.name === 'default')?.template : config.chat_template;
  if (!source) throw badInput(`${file}: has no chat_template; drop --chat-template for a checkpoint that is not instruction-tuned.`);
  let template: Template;
  try {
    template = new Template(source);
  } catch (error) {
    throw badInput(`${file}: the chat_template does not parse (${String(error)}); fix it or drop --chat-template.`, error);
  }
  const render = (content: string): string =>
    template.render({
      messages: [{ role: 'user', content }],
      bos_token: tokenText(config.bos_token),
      eos_token: tokenText(config.eos_token),
      add_generation_prompt: false,
    });
  const [before = '', after, ...more] = render(PLACEHOLDER).split(PLACEHOLDER);
  if (after === undefined || more.length > 0) {
    throw badInput(`${file}: the chat_template does not write the message text exactly once, unchanged; legal-attn cannot place the spans in it, so drop --chat-template.`);
  }
  return (text) => {
    const rendered = render(text);
    // a template that trims or rewrites the text would shift every offset after it
    if (rendered !== before + text + after) {
      throw badInput(`${file}: the chat_template changes the message text "${text.slice(0, 40)}…" (trims or rewrites it); remove leading and trailing white space from the text, or drop --chat-template.`);
    }
    return { rendered, start: before.length };
  };
}

/** Whether a checkpoint folder carries a chat template. */
async function hasChatTemplate(checkpointDir: string): Promise<boolean> {
  const text = await readFile(path.join(checkpointDir, 'tokenizer_config.json'), 'utf8').catch(() => '{}');
  const config = JSON.parse(text) as TokenizerConfig;
  return Boolean(config.chat_template);
}

/** The folder whose chat template wraps every model's input: the last of a lineage that has one (the instruct model's). */
export async function lineageChatTemplate(dirs: readonly string[]): Promise<string | undefined> {
  for (const dir of [...dirs].reverse()) if (await hasChatTemplate(dir)) return dir;
  return undefined;
}
