import assert from 'node:assert/strict';
import path from 'node:path';
import { referenceSpans } from '../../lib/reference/reference-spans.js';
import { conceptTokens } from '../../lib/tokenize/align-spans.js';
import { openCheckpoint } from '../../lib/checkpoint/checkpoint.js';
import { listFiles, maxRelativeDifference, modelDir, ROOT, temporaryFolder } from '../helpers.js';
import { planSequences } from '../../lib/plan/planned-sequence.js';
import { checkpointMaps, FullMapMeasurer } from '../../lib/measurers/full-maps.js';
import { InGraphMeasurer } from '../../lib/measurers/in-graph.js';
import { measureCheckpoint } from '../../lib/measurers/measure-checkpoint.js';
import { resolveAnalysis } from '../../lib/options/analysis-options.js';

describe('measurers, one interface', () => {
  it('from full maps and inside the graph, give every sequence the same measures, and measureCheckpoint writes the same trace folder for both', async () => {
    const checkpoint = await openCheckpoint(modelDir('base'));
    const planned = await planSequences({ concepts: path.join(ROOT, 'concepts', 'hearsay.yaml') }, checkpoint);
    // every sequence measures control runs of widths 1 and 3 beside its targets, as a run's plan gives them
    planned.forEach((p) => (p.references = referenceSpans(p.aligned.ids.length, new Set(conceptTokens(p.aligned.spans)), [], [1, 3], 0, { controlsPerWidth: 8, seed: 1 })));
    const root = await temporaryFolder();
    const full = await measureCheckpoint(checkpoint, planned, new FullMapMeasurer(checkpointMaps(checkpoint), resolveAnalysis().measure), path.join(root, 'full'), { chatTemplate: false });
    const inGraph = await measureCheckpoint(checkpoint, planned, new InGraphMeasurer(checkpoint, resolveAnalysis().measure, [5]), path.join(root, 'in-graph'), { chatTemplate: false });
    assert.equal(full.measures.length, planned.length);
    full.measures.forEach((expected, s) => {
      const actual = inGraph.measures[s]!;
      assert.deepEqual(actual.references, expected.references);
      expected.measures.forEach((m, k) => {
        for (const field of ['share', 'entropy', 'rollout'] as const) assert.ok(maxRelativeDifference(actual.measures[k]![field], m[field]) < 1e-5, `${planned[s]!.dir} ${m.target} ${field}`);
      });
      assert.ok(maxRelativeDifference(actual.referenceShares[0]!.share, expected.referenceShares[0]!.share) < 1e-5, `${planned[s]!.dir} reference shares`);
    });
    assert.deepEqual([full.record.maps, inGraph.record.maps, inGraph.record.mapLayers], ['full', 'mean', [5]]);
    const sequenceFiles = (files: string[], map: string) => files.filter((f) => f.endsWith(map)).map((f) => path.dirname(f)).sort();
    const [fullFiles, inGraphFiles] = [await listFiles(path.join(root, 'full')), await listFiles(path.join(root, 'in-graph'))];
    assert.deepEqual(sequenceFiles(fullFiles, 'attentions.npy'), planned.map((p) => p.dir).sort());
    assert.deepEqual(sequenceFiles(inGraphFiles, 'attentions-mean.npy'), planned.map((p) => p.dir).sort());
  });
});
