#!/usr/bin/env node
// Speed peer for occlusion saliency: TF.js 4.22 wasm backend running the
// occluded inputs csm built for one face (bench/bench_occlusion --dump).
//
//   node bench/tfjs_occlusion_bench.mjs MODEL_JSON DUMP.npy [--batch B] [--threads N]
//        [--min-time S] [--backend wasm|cpu]
//
// DUMP.npy is [N, H, W, C] float32; beside it DUMP.conf.npy holds csm's N
// confidences and DUMP.json says which output and value make the confidence
// (output node, kind sigmoid|probs|logits|logit|value, class) and csm's batch.
// The model runs on full inputs in batches of --batch (default: csm's batch from
// DUMP.json, else 64), which is all a peer without csm's occlusion engine would
// do: one forward per occluded input. Warm-up (one full and one remainder
// batch), then whole passes over the set until at least --min-time seconds
// (default 2) have passed. Prints one JSON line: {occluded_per_s,
// seconds_per_cis (N / occluded_per_s), threads, simd, max_abs_conf_diff, ...};
// max_abs_conf_diff compares the confidences from TF.js's outputs of the first
// timed pass with csm's.
import fs from 'node:fs';
import path from 'node:path';
import { startTf, loadModel, runModel } from '../tests/oracles/tfjs_env.mjs';
import { readNpy } from '../tests/oracles/npy.mjs';

function parseArgs(argv) {
  const a = { threads: Number(process.env.CSM_THREADS) || 2, minTime: 2, backend: 'wasm', batch: 0, pos: [] };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--threads') a.threads = Number(argv[++i]);
    else if (k === '--min-time') a.minTime = Number(argv[++i]);
    else if (k === '--backend') a.backend = argv[++i];
    else if (k === '--batch') a.batch = Number(argv[++i]);
    else if (k.startsWith('--')) throw new Error(`unknown option ${k}`);
    else a.pos.push(k);
  }
  [a.model, a.dump] = a.pos;
  if (!a.model || !a.dump || a.pos.length !== 2) {
    throw new Error('usage: tfjs_occlusion_bench.mjs MODEL_JSON DUMP.npy [--batch B] [--threads N] [--min-time S] [--backend wasm|cpu]');
  }
  if (!Number.isInteger(a.threads) || a.threads < 1) throw new Error('--threads must be a positive integer');
  if (!Number.isInteger(a.batch) || a.batch < 0) throw new Error('--batch must be a positive integer');
  if (!(a.minTime > 0)) throw new Error('--min-time must be positive');
  return a;
}

// The task's confidence from one input's values of its output (src/task/classify.c,
// csm_task_scores, and the class scorer of src/task/scorer.c).
function confidence(side, v) {
  switch (side.kind) {
    case 'sigmoid':
      return side.class === 1 ? v[0] : 1 - v[0];
    case 'probs':
    case 'logit':
      return v[side.class];
    case 'value':
      return v[0];
    case 'logits': {
      let mx = -Infinity;
      for (const x of v) mx = Math.max(mx, x);
      let sum = 0;
      for (const x of v) sum += Math.exp(x - mx);
      return Math.exp(v[side.class] - mx) / sum;
    }
    default:
      throw new Error(`confidence kind '${side.kind}' is not supported here`);
  }
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const stem = a.dump.replace(/\.npy$/, '');
  const side = JSON.parse(fs.readFileSync(`${stem}.json`, 'utf8'));
  const set = readNpy(a.dump);
  const ref = readNpy(`${stem}.conf.npy`);
  if (set.shape.length !== 4) throw new Error(`${a.dump}: shape [${set.shape}] is not [N, H, W, C]`);
  const [N, H, W, C] = set.shape;
  if (ref.data.length !== N) throw new Error(`${stem}.conf.npy: ${ref.data.length} values for ${N} inputs`);
  const batch = a.batch || side.batch || 64;

  const env = await startTf({ backend: a.backend, threads: a.threads });
  const { tf } = env;
  const model = await loadModel(tf, a.model);
  if (model.inputs.length !== 1) throw new Error(`${a.model}: ${model.inputs.length} inputs, expected 1`);
  const want = side.output.replace(/:0$/, '');
  const outIndex = model.outputs.findIndex((o) => o.name.replace(/:0$/, '') === want);
  if (outIndex < 0) throw new Error(`${a.model}: no output '${want}' (has ${model.outputs.map((o) => o.name)})`);

  // The set as batch tensors, made once: the peer is handed its inputs.
  const per = H * W * C;
  const batches = [];
  for (let b0 = 0; b0 < N; b0 += batch) {
    const nb = Math.min(batch, N - b0);
    batches.push(tf.tensor4d(set.data.subarray(b0 * per, (b0 + nb) * per), [nb, H, W, C]));
  }
  const conf = new Float32Array(N);
  const pass = async (record) => {
    let at = 0;
    for (const x of batches) {
      const outs = await runModel(tf, model, [x]);
      const datas = [];
      for (const t of outs) datas.push(await t.data()); // wait for every result, as a user would
      if (record) {
        const v = datas[outIndex];
        const nb = x.shape[0];
        const k = v.length / nb;
        for (let i = 0; i < nb; i++) conf[at + i] = confidence(side, v.subarray(i * k, (i + 1) * k));
      }
      at += x.shape[0];
      tf.dispose(outs);
    }
  };
  // Warm-up: kernels and memory for both batch shapes in the set.
  for (const x of new Set([batches[0], batches[batches.length - 1]])) tf.dispose(await runModel(tf, model, [x]));

  let passes = 0;
  const t0 = performance.now();
  let elapsed = 0;
  do {
    await pass(passes === 0);
    passes++;
    elapsed = (performance.now() - t0) / 1000;
  } while (elapsed < a.minTime);

  let maxDiff = 0;
  for (let i = 0; i < N; i++) maxDiff = Math.max(maxDiff, Math.abs(conf[i] - ref.data[i]));
  const rate = (N * passes) / elapsed;
  console.log(
    JSON.stringify({
      model: path.basename(a.model, '.json'),
      task: side.task,
      input: [H, W, C],
      n: N,
      batch,
      occluded_per_s: Number(rate.toFixed(2)),
      seconds_per_cis: Number((N / rate).toFixed(4)),
      backend: `tfjs-${env.backend}`,
      threads: env.threads,
      simd: env.simd,
      passes,
      seconds: Number(elapsed.toFixed(3)),
      max_abs_conf_diff: Number(maxDiff.toExponential(3)),
      tfjs: tf.version_core,
    }),
  );
  tf.dispose(batches);
  model.dispose();
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`tfjs_occlusion_bench: ${e && e.message ? e.message : e}`);
    process.exit(1);
  },
);
