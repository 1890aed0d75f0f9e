import type { Lens } from '../measure/measure-sequence.js';
import { KNOCKOUT_MEASURES } from '../knockout/measure.js';
import { measuredRepresentations } from '../results/comparison-files.js';
import { rm, stat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { badInput } from '../errors.js';
import { writeJson, writeOutputFolder } from '../io/atomic.js';
import { compareCheckpoints, type CompareSummary } from './compare.js';
import { perturbCheckpoint } from '../synth/perturb.js';
import { attentionRates, knockoutRates, rateShares, representationRates, type TestRates } from '../results/test-rates.js';
import { type CompareRequest, type NamedModel } from '../options/run-options.js';

export interface CalibrateRequest extends Omit<CompareRequest, 'models' | 'out' | 'pairs' | 'maps' | 'mapLayers'> {
  /** The pair to calibrate: before (A) and after (B). */
  models: [NamedModel, NamedModel];
  out: string;
  /** Concept-agnostic copies of A to run (default 4). */
  copies?: number;
}

/** One run's findings: attention and the value-weighted share under each query set and sink, representations, and knockout. */
export interface Findings {
  attention: Record<string, TestRates>;
  value?: Record<string, TestRates>;
  representations?: TestRates;
  /** Per knockout measure (loglik, state). */
  knockout?: Record<string, TestRates>;
}

export interface CalibrateSummary {
  out: string;
  pair: string;
  copies: number;
  /** The real pair's findings, and each concept-agnostic copy's. */
  observed: Findings;
  nulls: Findings[];
  /** Per family: the real pair's concepts beating chance, the copies', and the empirical p of the real count. */
  verdicts: Verdict[];
  /** Seconds the real compare and each copy took, and the bytes one copy takes on disk (only one is kept at a time). */
  cost: { pairSeconds: number; copySeconds: number[]; copyBytes: number };
}

export interface Verdict {
  family: string;
  conceptsBeatingChance: number;
  concepts: number;
  /** The same count on each concept-agnostic copy. */
  nullCounts: number[];
  /** (1 + #{copies with at least as many}) / (1 + copies). */
  empiricalP: number;
  /** The concepts' mean class-matched effect, a shift their whole class shares, which one run cannot test: the pair's, and each copy's. */
  meanEffect: number;
  nullMeanEffects: number[];
  /** (1 + #{copies at least as far from 0}) / (1 + copies), two-sided. */
  meanEffectP: number;
}


function findings(summary: CompareSummary, alpha: number): Findings {
  const variantsOf = (lens: Lens): string[] => [...new Set(summary.comparison.scopes.filter((s) => s.scope === '*' && s.variant.target === 'concept' && (s.variant.lens ?? 'attention') === lens).map((s) => `${s.variant.querySet}/${s.variant.sink}`))];
  const ratesOf = (lens: Lens): Record<string, TestRates> => Object.fromEntries(variantsOf(lens).map((v) => [v, attentionRates([summary.comparison], v, alpha, () => true, lens)]));
  const states = measuredRepresentations(summary.representations);
  const knockout = summary.knockout;
  const value = ratesOf('value');
  return {
    attention: ratesOf('attention'),
    ...(Object.keys(value).length > 0 ? { value } : {}),
    ...(states ? { representations: representationRates([states], alpha) } : {}),
    ...(knockout ? { knockout: Object.fromEntries(KNOCKOUT_MEASURES.map((m) => [m, knockoutRates([knockout], alpha, () => true, [m])])) } : {}),
  };
}

type Family = [string, (f: Findings) => TestRates | undefined];

function verdicts(observed: Findings, nulls: readonly Findings[]): Verdict[] {
  const families: Family[] = [
    ...Object.keys(observed.attention).map((v): Family => [`attention ${v}`, (f) => f.attention[v]]),
    ...Object.keys(observed.value ?? {}).map((v): Family => [`value-weighted ${v}`, (f) => f.value?.[v]]),
    ...(observed.representations ? [['representations', (f: Findings) => f.representations] as Family] : []),
    ...Object.keys(observed.knockout ?? {}).map((m): Family => [`knockout ${m}`, (f) => f.knockout?.[m]]),
  ];
  return families.map(([family, of]) => {
    const real = of(observed)!;
    const nullCounts = nulls.map((n) => of(n)?.countBelow ?? 0);
    const nullMeanEffects = nulls.map((n) => of(n)?.meanEffect ?? 0);
    return {
      family,
      conceptsBeatingChance: real.countBelow,
      concepts: real.concepts,
      nullCounts,
      empiricalP: (1 + nullCounts.filter((c) => c >= real.countBelow).length) / (1 + nulls.length),
      meanEffect: real.meanEffect,
      nullMeanEffects,
      meanEffectP: (1 + nullMeanEffects.filter((e) => Math.abs(e) >= Math.abs(real.meanEffect)).length) / (1 + nulls.length),
    };
  });
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) if (entry.isFile()) total += (await stat(path.join(entry.parentPath, entry.name))).size;
  return total;
}

/**
 * `calibrate`: how often the tool's findings arise on this pair's scale of change when
 * nothing concept-specific changed. It compares B against A as compare does, then K
 * copies of A, each with Gaussian noise on every weight matrix as large as that
 * tensor's change from A to B (per-tensor RMS of B − A), against A, through the same
 * pipeline. One copy is on disk at a time (as large as A) and is removed once measured;
 * A's passes come from the trace cache after the first run.
 */
export async function calibratePair(request: CalibrateRequest): Promise<CalibrateSummary> {
  const copies = request.copies ?? 4;
  if (!Number.isInteger(copies) || copies < 1 || copies > 100) throw badInput(`--copies ${copies} must be a whole number from 1 to 100.`);
  const [a, b] = request.models;
  const alpha = request.alpha ?? 0.05;
  const base = { ...request, force: true };
  const out = path.resolve(request.out);
  return writeOutputFolder(out, { force: request.force ?? false }, async (staging) => {
    const started = performance.now();
    const pair = await compareCheckpoints({ ...base, models: [a, b], out: path.join(staging, 'pair'), maps: 'none' });
    const pairSeconds = (performance.now() - started) / 1000;
    const nulls: Findings[] = [];
    const copySeconds: number[] = [];
    let copyBytes = 0;
    for (let k = 1; k <= copies; k++) {
      const start = performance.now();
      const copy = path.join(staging, `.copy-${k}`);
      request.onProgress?.(`concept-agnostic copy ${k} of ${copies}`, k - 1, copies);
      await perturbCheckpoint(a.dir, copy, { matchDifference: { other: b.dir, seed: (request.seed ?? 1) + k } });
      copyBytes = await folderBytes(copy);
      try {
        const summary = await compareCheckpoints({ ...base, models: [a, { name: `${a.name}-noise-${k}`, dir: copy }], out: path.join(staging, 'nulls', `copy-${k}`), maps: 'none' });
        nulls.push(findings(summary, alpha));
      } finally {
        await rm(copy, { recursive: true, force: true });
      }
      copySeconds.push((performance.now() - start) / 1000);
    }
    const observed = findings(pair, alpha);
    const summary: CalibrateSummary = { out, pair: `${b.name}:${a.name}`, copies, observed, nulls, verdicts: verdicts(observed, nulls), cost: { pairSeconds, copySeconds, copyBytes } };
    await writeJson(path.join(staging, 'calibration.json'), {
      ...summary,
      observed: ratesOf(observed),
      nulls: nulls.map(ratesOf),
      note: 'Each null copy is A with Gaussian noise added to every floating-point weight matrix, its sd per tensor the RMS of B − A for that tensor: a change as large as the real one, about no concept.',
    });
    return summary;
  });
}

const sharesOf = (rates: Record<string, TestRates>) => Object.fromEntries(Object.entries(rates).map(([v, r]) => [v, rateShares(r)]));

const ratesOf = (f: Findings) => ({
  attention: sharesOf(f.attention),
  ...(f.value ? { value: sharesOf(f.value) } : {}),
  ...(f.representations ? { representations: rateShares(f.representations) } : {}),
  ...(f.knockout ? { knockout: sharesOf(f.knockout) } : {}),
});
