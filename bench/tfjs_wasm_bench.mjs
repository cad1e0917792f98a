#!/usr/bin/env node
// Speed peer: TF.js 4.22 wasm backend (XNNPACK, SIMD) on one model and batch size.
//
//   node bench/tfjs_wasm_bench.mjs MODEL_JSON BATCH [--threads N] [--min-time S] [--backend wasm|cpu]
//
// Fixed pseudo-random input in [0,1) (same seed every run), warm-up, then whole
// iterations until at least --min-time seconds (default 2) have passed. Prints one
// JSON line: {model, batch, images_per_s, backend, threads, simd, ...}. threads is
// what the backend reports it uses (tfjs-backend-wasm turns threads off under Node;
// tests/oracles/tfjs_env.mjs turns them back on, see there). Models whose input
// batch is fixed at 1 (BlazeFace) run BATCH as BATCH calls of batch 1
// ("mode": "repeated-batch1").
import path from 'node:path';
import { startTf, loadModel, runModel } from '../tests/oracles/tfjs_env.mjs';

function parseArgs(argv) {
  const a = { threads: Number(process.env.CSM_THREADS) || 2, minTime: 2, backend: 'wasm', pos: [] };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--threads') a.threads = Number(argv[++i]);
    else if (k === '--min-time') a.minTime = Number(argv[++i]);
    else if (k === '--backend') a.backend = argv[++i];
    else if (k.startsWith('--')) throw new Error(`unknown option ${k}`);
    else a.pos.push(k);
  }
  const [model, batch] = a.pos;
  a.model = model;
  a.batch = Number(batch);
  if (!model || !Number.isInteger(a.batch) || a.batch < 1 || a.pos.length !== 2) {
    throw new Error('usage: tfjs_wasm_bench.mjs MODEL_JSON BATCH [--threads N] [--min-time S] [--backend wasm|cpu]');
  }
  if (!Number.isInteger(a.threads) || a.threads < 1) throw new Error('--threads must be a positive integer');
  if (!(a.minTime > 0)) throw new Error('--min-time must be positive');
  return a;
}

function randomInput(n, seed = 12345) {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0; // LCG: fixed, portable
    out[i] = s / 4294967296;
  }
  return out;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const env = await startTf({ backend: a.backend, threads: a.threads });
  const { tf } = env;
  const model = await loadModel(tf, a.model);
  if (model.inputs.length !== 1) throw new Error(`${a.model}: ${model.inputs.length} inputs, expected 1`);
  const shape = (model.inputs[0].shape || []).map((d) => (d == null || d < 0 ? -1 : d));
  if (shape.length !== 4 || shape.slice(1).some((d) => d <= 0)) throw new Error(`${a.model}: input shape [${shape}] is not NHWC`);
  const fixed1 = shape[0] === 1;
  const callBatch = fixed1 ? 1 : a.batch;
  const calls = fixed1 ? a.batch : 1;
  const inShape = [callBatch, ...shape.slice(1)];
  const x = tf.tensor(randomInput(inShape.reduce((p, d) => p * d, 1)), inShape);

  const iteration = async () => {
    for (let c = 0; c < calls; c++) {
      const outs = await runModel(tf, model, [x]);
      for (const t of outs) await t.data(); // wait for the results, as a user would
      tf.dispose(outs);
    }
  };
  // Warm-up: kernels, XNNPACK operator creation, memory growth.
  const w0 = performance.now();
  let warm = 0;
  do {
    await iteration();
    warm++;
  } while (warm < 2 || (performance.now() - w0 < 500 && warm < 10));

  let iters = 0;
  const t0 = performance.now();
  let elapsed = 0;
  do {
    await iteration();
    iters++;
    elapsed = (performance.now() - t0) / 1000;
  } while (elapsed < a.minTime);

  const result = {
    model: path.basename(a.model, '.json'),
    batch: a.batch,
    images_per_s: Number(((a.batch * iters) / elapsed).toFixed(2)),
    backend: `tfjs-${env.backend}`,
    threads: env.threads,
    simd: env.simd,
    mode: fixed1 && a.batch > 1 ? 'repeated-batch1' : 'batch',
    iterations: iters,
    seconds: Number(elapsed.toFixed(3)),
    tfjs: tf.version_core,
  };
  console.log(JSON.stringify(result));
  x.dispose();
  model.dispose();
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`tfjs_wasm_bench: ${e && e.message ? e.message : e}`);
    process.exit(1);
  },
);
