import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { modelDir, probeConcepts, temporaryFolder } from '../helpers.js';

/** A concept set of `count` generated concepts with two sequences each. */
export async function generatedConcepts(dir: string, count: number, prefix: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (let k = 0; k < count; k++) {
    await writeFile(
      path.join(dir, `${prefix}-${k}.yaml`),
      `id: ${prefix}-${k}\nname: ${prefix} ${k}\narea: test\nsequences:\n  - id: a\n    text: In case number ${k + 3} the court applied [[res judicata]] to bar the second claim.\n  - id: b\n    text: The tenant relied on [[promissory estoppel]] after promise ${k + 11} was broken by the landlord.\n`,
    );
  }
  return dir;
}

/** A manifest with two concept sets and the three tiny checkpoints; returns its path. */
export async function twoSetManifest(generated = 20): Promise<string> {
  const dir = await temporaryFolder('legal-attn-batch-');
  await probeConcepts(path.join(dir, 'probes'));
  await generatedConcepts(path.join(dir, 'generated'), generated, 'gen');
  const manifest = `models:
  base: ${modelDir('base')}
  cpt: ${modelDir('cpt')}
  ift: ${modelDir('ift')}
defaults:
  seed: 3
  report: false
runs:
  - name: probes
    models: [base, cpt, ift]
    concepts: probes
    out: results/probes
  - name: generated
    models: [base, cpt, ift]
    concepts: generated
    out: results/generated
    pairs: [ift:base]
    query-sets: [all, after]
    sink: exclude
`;
  const file = path.join(dir, 'study.yaml');
  await writeFile(file, manifest);
  return file;
}

export const RESULT_FILES = ['summary.json', 'shares.csv', 'changes.csv', 'stats.csv', 'layers.csv'];
