import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { runCli } from '../bin/cli.js';
import { captureIo, ROOT, temporaryFolder } from './helpers.js';

const exec = promisify(execFile);

interface Block {
  lang: string;
  line: number;
  text: string;
}

/** The fenced code blocks of a Markdown file, in order. */
function codeBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  let open: Block | undefined;
  markdown.split('\n').forEach((text, k) => {
    const fence = /^```(\w*)/.exec(text);
    if (fence && !open) open = { lang: fence[1] ?? '', line: k + 1, text: '' };
    else if (fence && open) {
      blocks.push(open);
      open = undefined;
    } else if (open) open.text += `${text}\n`;
  });
  return blocks;
}

/** The legal-attn commands of a shell block (continuations joined); none where it does anything else. */
function legalAttnCommands(block: Block): string[][] | undefined {
  const lines = block.text.replace(/\\\n\s*/g, ' ').split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0 || !lines.every((l) => l.startsWith('legal-attn ')) || block.text.includes('$')) return undefined;
  return lines.map((l) => l.trim().split(/\s+/).slice(1));
}

async function pythonWithNumpy(): Promise<string | undefined> {
  for (const python of ['python3', '/usr/bin/python3']) {
    if (await exec(python, ['-c', 'import numpy']).then(() => true, () => false)) return python;
  }
  return undefined;
}

describe("the README's examples", function () {
  this.timeout(300_000);

  it('run as written from a clone after the quick start: every legal-attn command, then every Python snippet', async () => {
    const blocks = codeBlocks(await readFile(path.join(ROOT, 'README.md'), 'utf8'));
    const cwd = await temporaryFolder();
    for (const folder of ['models', 'concepts', 'examples']) await symlink(path.join(ROOT, folder), path.join(cwd, folder));
    const python = await pythonWithNumpy();
    let commands = 0;
    let snippets = 0;
    const before = process.cwd();
    process.chdir(cwd);
    try {
      for (const block of blocks) {
        const argvs = block.lang === 'sh' ? legalAttnCommands(block) : undefined;
        for (const argv of argvs ?? []) {
          const io = captureIo();
          assert.equal(await runCli(['--quiet', ...argv], io), 0, `README line ${block.line}: legal-attn ${argv.join(' ')}\n${io.err}`);
          commands++;
        }
        if (block.lang === 'python' && python) {
          await exec(python, ['-c', block.text], { cwd }).catch((error: Error & { stderr?: string }) => assert.fail(`README line ${block.line}: ${error.stderr ?? error.message}`));
          snippets++;
        }
      }
    } finally {
      process.chdir(before);
    }
    assert.ok(commands >= 3, `${commands} commands run`);
    if (python) assert.ok(snippets >= 1);
  });

  it("the library example runs against the package's own exports, and prints a share", async () => {
    const [example] = codeBlocks(await readFile(path.join(ROOT, 'README.md'), 'utf8')).filter((b) => b.lang === 'js');
    // Inside the package, so that `import … from 'legal-attn'` resolves through package.json's exports.
    const file = path.join(ROOT, 'dist', `readme-example-${process.pid}.mjs`);
    await writeFile(file, example!.text);
    try {
      const { stdout } = await exec(process.execPath, [file], { cwd: ROOT });
      assert.match(stdout, /^Consideration: share of the last layer's first head 0\.\d{4}\n$/);
    } finally {
      await rm(file, { force: true });
    }
  });
});
