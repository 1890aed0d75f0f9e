import { readFile } from 'node:fs/promises';
import { decodeModel } from './dist/lib/trace/onnx-model.js';
import { findResidualStream } from './dist/lib/trace/residual-stream.js';
for (const d of process.argv.slice(2)) {
  const m = decodeModel(await readFile(d + '/model.onnx'));
  const cfg = JSON.parse(await readFile(d + '/config.json','utf8'));
  console.log(d, JSON.stringify(findResidualStream(m.graph, cfg.num_hidden_layers)).slice(0,300));
}
