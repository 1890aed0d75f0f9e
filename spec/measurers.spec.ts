import assert from 'node:assert/strict';
import path from 'node:path';
import { DEFAULT_MEASURE_OPTIONS } from '../lib/measure/measure-sequence.js';
import { fullMapMeasurer, inGraphMeasurer, measureCheckpoint } from '../lib/measurers.js';
import { planSequences } from '../lib/run-trace.js';
import { openCheckpoint } from '../lib/trace/checkpoint.js';
import { listFiles, maxRelativeDifference, modelDir, ROOT, temporaryFolder } from './helpers.js';

describe('measurers, one interface', () => {
  it('from full maps and inside the graph, give every sequence the same measures, and measureCheckpoint writes the same trace folder for both', async () => {
    const checkpoint = await openCheckpoint(modelDir('base'));
    const planned = await planSequences({ model: checkpoint, concepts: path.join(ROOT, 'concepts', 'hearsay.yaml'), out: '' }, checkpoint);
    const root = await temporaryFolder();
    const full = await measureCheckpoint(checkpoint, planned, fullMapMeasurer(checkpoint, DEFAULT_MEASURE_OPTIONS), path.join(root, 'full'), { chatTemplate: false });
    const inGraph = await measureCheckpoint(checkpoint, planned, inGraphMeasurer(checkpoint, DEFAULT_MEASURE_OPTIONS, [5]), path.join(root, 'in-graph'), { chatTemplate: false });
    assert.equal(full.measures.length, planned.length);
    full.measures.forEach((expected, s) => {
      const actual = inGraph.measures[s]!;
      assert.deepEqual(actual.controlSpans, expected.controlSpans);
      expected.measures.forEach((m, k) => {
        for (const field of ['share', 'entropy', 'rollout', 'controlShare'] as const) assert.ok(maxRelativeDifference(actual.measures[k]![field], m[field]) < 1e-5, `${planned[s]!.dir} ${m.target} ${field}`);
      });
    });
    assert.deepEqual([full.record.maps, inGraph.record.maps, inGraph.record.mapLayers], ['full', 'mean', [5]]);
    const sequenceFiles = (files: string[], map: string) => files.filter((f) => f.endsWith(map)).map((f) => path.dirname(f)).sort();
    const [fullFiles, inGraphFiles] = [await listFiles(path.join(root, 'full')), await listFiles(path.join(root, 'in-graph'))];
    assert.deepEqual(sequenceFiles(fullFiles, 'attentions.npy'), planned.map((p) => p.dir).sort());
    assert.deepEqual(sequenceFiles(inGraphFiles, 'attentions-mean.npy'), planned.map((p) => p.dir).sort());
  });
});
