import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { openCheckpoint } from '../../lib/checkpoint/checkpoint.js';
import { openKnockoutSession, spanKnockout, type KnockoutMask, type KnockoutPass } from '../../lib/runtime/knockout-session.js';
import { residualStreamOf } from '../../lib/runtime/states-session.js';
import { pythonOrSkip } from '../checkpoint/exports.js';
import { modelDir, referenceIndex, ROOT, type ReferenceProbe } from '../helpers.js';

const TOLERANCE = 1e-4;
const REFERENCE_SCRIPT = path.join(ROOT, 'spec', 'fixtures', 'knockout', 'reference.py');

interface ReferenceAnswer {
  logprob: number[][];
  cosine: number[][];
}

/** The probe's concept tokens: those whose characters overlap an annotated span. */
const conceptTokens = (probe: ReferenceProbe): number[] => probe.offsets.flatMap(([a, b], t) => (b > a && probe.spans.some(([s, e]) => a < e && b > s) ? [t] : []));

/** The knockouts checked: the concept and a two-token control before it, each in every layer and in one layer alone. */
function knockoutsOf(probe: ReferenceProbe, layers: number): KnockoutMask[] {
  const T = probe.ids.length;
  const concept = conceptTokens(probe);
  const control = [concept[0]! - 4, concept[0]! - 3];
  return [concept, control].flatMap((span) => [spanKnockout(T, span, layers), spanKnockout(T, span, layers, [0]), spanKnockout(T, span, layers, [layers - 1])]);
}

async function reference(python: string, probe: ReferenceProbe, masks: readonly KnockoutMask[]): Promise<ReferenceAnswer> {
  const plain = (m: KnockoutMask): Record<keyof KnockoutMask, number[]> => ({ keys: Array.from(m.keys), queries: Array.from(m.queries), layers: Array.from(m.layers) });
  const baseline = spanKnockout(probe.ids.length, [], masks[0]!.layers.length);
  const child = promisify(execFile)(python, [REFERENCE_SCRIPT, modelDir('base')], { timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
  child.child.stdin!.end(JSON.stringify({ ids: probe.ids, rows: [baseline, ...masks].map(plain) }));
  return JSON.parse((await child).stdout) as ReferenceAnswer;
}

/** Largest |difference| over every row and position, log-probs of the T − 1 predicted tokens and cosines of all T. */
function differences(pass: KnockoutPass, expected: ReferenceAnswer): { logprob: number; cosine: number } {
  const T = pass.length;
  let logprob = 0;
  let cosine = 0;
  for (let r = 0; r < pass.rows; r++) {
    for (let i = 0; i < T - 1; i++) logprob = Math.max(logprob, Math.abs(pass.logprob[r * T + i]! - expected.logprob[r]![i]!));
    for (let i = 0; i < T; i++) cosine = Math.max(cosine, Math.abs(pass.cosine[r * T + i]! - expected.cosine[r]![i]!));
  }
  return { logprob, cosine };
}

describe('attention knockout against a numpy forward pass of the weights', () => {
  let python: string | undefined;
  const answers = new Map<string, ReferenceAnswer>();
  before(async function () {
    python = await pythonOrSkip(this, 'the knockout reference');
  });

  for (const model of ['base', 'base-dynamo'] as const) {
    it(`tiny-legal-${model}: log-probs and last-state cosines agree within ${TOLERANCE}, concept and control, every layer and one`, async () => {
      const checkpoint = await openCheckpoint(modelDir(model));
      const stream = await residualStreamOf(checkpoint);
      if (typeof stream === 'string') throw new Error(stream);
      const session = await openKnockoutSession(checkpoint, stream);
      try {
        for (const probe of (await referenceIndex()).probes.slice(0, 2)) {
          const masks = knockoutsOf(probe, session.layers);
          const pass = await session.run(BigInt64Array.from(probe.ids, BigInt), masks);
          if (!answers.has(probe.id)) answers.set(probe.id, await reference(python!, probe, masks));
          const expected = answers.get(probe.id)!;
          const { logprob, cosine } = differences(pass, expected);
          assert.ok(logprob < TOLERANCE, `${model}/${probe.id}: log-probs differ by up to ${logprob}`);
          assert.ok(cosine < TOLERANCE, `${model}/${probe.id}: cosines differ by up to ${cosine}`);
          // the knockout moves the concept's later tokens by far more than the tolerance, so the agreement is not the baseline's alone
          const moved = Math.max(...expected.logprob[1]!.map((v, i) => Math.abs(v - expected.logprob[0]![i]!)));
          assert.ok(moved > 100 * TOLERANCE, `${probe.id}: the concept's knockout moves the log-probs by ${moved} only`);
        }
      } finally {
        await session.release();
      }
    });
  }
});
