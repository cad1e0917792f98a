#!/usr/bin/env node
// Speed peer for ONNX models: ONNX Runtime 1.20.1 (onnxruntime-node, CPU execution
// provider, all graph optimizations) on one .onnx file and one input batch.
//
//   node bench/onnx_ort_bench.mjs MODEL.onnx INPUT.npy [--threads N] [--min-time S]
//                                 [--min-runs K] [--out PREFIX]
//
// INPUT.npy: float32, the model's declared (NCHW) layout, batch included. The
// session runs with intraOpNumThreads N (default $CSM_THREADS or 2) and
// interOpNumThreads 1, sequential execution. One warm-up run, then whole runs
// until at least --min-time seconds (default 2) and --min-runs runs (default 3).
// Prints one JSON line: {model, batch, images_per_s, ms_per_run (mean),
// ms_median, runs, backend, threads}. --out PREFIX also writes output k of the
// warm-up run as PREFIX_k.npy (float32), to check ORT against the PyTorch oracle.
import { readNpy, writeNpy } from '../tests/oracles/npy.mjs';
import { requireNpm } from '../tests/oracles/tfjs_env.mjs';

const USAGE = 'usage: onnx_ort_bench.mjs MODEL.onnx INPUT.npy [--threads N] [--min-time S] [--min-runs K] [--out PREFIX]';

function parseArgs(argv) {
  const a = { threads: Number(process.env.CSM_THREADS) || 2, minTime: 2, minRuns: 3, out: null, pos: [] };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--threads') a.threads = Number(argv[++i]);
    else if (k === '--min-time') a.minTime = Number(argv[++i]);
    else if (k === '--min-runs') a.minRuns = Number(argv[++i]);
    else if (k === '--out') a.out = argv[++i];
    else if (k.startsWith('--')) throw new Error(`unknown option ${k}\n${USAGE}`);
    else a.pos.push(k);
  }
  if (a.pos.length !== 2) throw new Error(USAGE);
  [a.model, a.input] = a.pos;
  if (!Number.isInteger(a.threads) || a.threads < 1) throw new Error('--threads must be a positive integer');
  if (!(a.minTime >= 0)) throw new Error('--min-time must be >= 0');
  if (!Number.isInteger(a.minRuns) || a.minRuns < 1) throw new Error('--min-runs must be a positive integer');
  return a;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const ort = requireNpm('onnxruntime-node');
  const version = requireNpm('onnxruntime-node/package.json').version;
  const npy = readNpy(a.input);
  if (npy.dtype !== 'float32') throw new Error(`${a.input}: expected float32 data, got ${npy.dtype}`);
  const { data } = npy;
  const session = await ort.InferenceSession.create(a.model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  if (session.inputNames.length !== 1) throw new Error(`${a.model}: ${session.inputNames.length} inputs, expected 1`);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, npy.shape) };
  const batch = npy.shape[0];

  const first = await session.run(feeds); // warm-up (allocations, kernel selection)
  if (a.out) {
    session.outputNames.forEach((name, k) => {
      const t = first[name];
      writeNpy(`${a.out}_${k}.npy`, t.dims.map(Number), Float32Array.from(t.data));
    });
  }
  const times = [];
  const t0 = performance.now();
  let total = 0;
  do {
    const s = performance.now();
    await session.run(feeds);
    times.push(performance.now() - s);
    total = (performance.now() - t0) / 1000;
  } while (total < a.minTime || times.length < a.minRuns);
  times.sort((x, y) => x - y);
  console.log(JSON.stringify({
    model: a.model,
    batch,
    images_per_s: (times.length * batch) / total,
    ms_per_run: (total * 1000) / times.length,
    ms_median: times[times.length >> 1],
    runs: times.length,
    backend: `onnxruntime-node ${version} cpu`,
    threads: a.threads,
    inter_op_threads: 1,
    outputs: session.outputNames,
  }));
}

main().catch((e) => {
  console.error(`onnx_ort_bench: ${e.message}`);
  process.exit(1);
});
