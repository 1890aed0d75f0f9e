import { readFile } from 'node:fs/promises';
import { decodeModel } from './dist/lib/trace/onnx-model.js';
const m = decodeModel(await readFile('models/tiny-legal-base/model.onnx'));
const g = m.graph; const nodes = g.node;
const e = nodes.findIndex(n => n.opType==='Gather' && n.input.includes('input_ids'));
console.log(e, nodes[e]?.input, nodes[e]?.output);
const out = nodes[e].output[0];
for (const n of nodes) if (n.input.includes(out)) console.log(n.opType, n.input, n.output);
