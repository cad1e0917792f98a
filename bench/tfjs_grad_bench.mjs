#!/usr/bin/env node
// Speed peer for input gradients: TF.js 4.22 tf.grad of a graph model (the work
// of `csm infer --grad K:J`, see tests/oracles/tfjs_grad.mjs for the oracle).
//
//   node bench/tfjs_grad_bench.mjs MODEL_JSON INPUT.npy [--grad K:J] [--backend wasm|cpu]
//        [--threads N] [--min-time S] [--out GRAD.npy]
//
// The gradient of sum over the batch of output[K].reshape(B, -1)[:, J] with
// respect to the input, the model's execute() inside tf.grad, on the batch in
// INPUT.npy (made once: the peer is handed its input), read back with data().
// One warm-up gradient, then whole gradients until at least --min-time seconds
// (default 2) have passed. Prints one JSON line {seconds_per_grad, backend,
// threads, simd, fallback, ...}.
//
// tfjs-backend-wasm 4.22 has no backward kernels for some ops these models use
// (Conv2DBackpropFilter, which the fused conv's gradient computes even for an
// input gradient, DepthwiseConv2dNativeBackpropInput/Filter, ...): tf.grad
// fails there. So that the wasm column exists at all, every kernel registered
// for the cpu backend and missing in wasm is registered for wasm as a fallback
// that copies its inputs to the cpu backend, runs the cpu kernel (plain JS,
// one thread) and copies the result back. "fallback" in the JSON lists the
// kernels that ran that way ({calls, s} per gradient), and fallback_s their total time:
// the wasm number is wasm + those cpu kernels, not pure wasm.
// wasm's own MaxPoolGrad is wrong on gender's 3x3 stride-2 SAME max pools
// (tf.grad on wasm: relative L2 error 0.73 against the cpu backend and csm; with
// MaxPoolGrad from the cpu backend: 4e-7), so it runs through the cpu backend
// too: $CSM_TFJS_WASM_CPU_KERNELS (default "MaxPoolGrad", comma-separated)
// lists wasm kernels replaced that way.
// --check REF.npy (csm's gradient) adds rel_l2_vs_ref = ||g - ref|| / ||ref||
// of the warm-up gradient to the JSON.
import path from 'node:path';
import { startTf, loadModel } from '../tests/oracles/tfjs_env.mjs';
import { readNpy, writeNpy } from '../tests/oracles/npy.mjs';

function parseArgs(argv) {
  const a = { threads: Number(process.env.CSM_THREADS) || 2, minTime: 2, backend: 'wasm', output: 0, value: 0, pos: [] };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--threads') a.threads = Number(argv[++i]);
    else if (k === '--min-time') a.minTime = Number(argv[++i]);
    else if (k === '--backend') a.backend = argv[++i];
    else if (k === '--out') a.out = argv[++i];
    else if (k === '--check') a.check = argv[++i];
    else if (k === '--grad') {
      const m = /^(\d+):(\d+)$/.exec(argv[++i] || '');
      if (!m) throw new Error('--grad takes K:J');
      a.output = Number(m[1]);
      a.value = Number(m[2]);
    } else if (k.startsWith('--')) throw new Error(`unknown option ${k}`);
    else a.pos.push(k);
  }
  [a.model, a.input] = a.pos;
  if (!a.model || !a.input || a.pos.length !== 2) {
    throw new Error('usage: tfjs_grad_bench.mjs MODEL_JSON INPUT.npy [--grad K:J] [--backend wasm|cpu] [--threads N] [--min-time S] [--out G.npy]');
  }
  if (!Number.isInteger(a.threads) || a.threads < 1) throw new Error('--threads must be a positive integer');
  if (!(a.minTime > 0)) throw new Error('--min-time must be positive');
  return a;
}

// Registers cpu kernels missing in wasm for wasm, run through the cpu backend.
function registerCpuFallbacks(tf, stats, replace) {
  const cpu = tf.engine().findBackend('cpu');
  if (!cpu) throw new Error('the cpu backend is not available for fallback kernels');
  if ('firstUse' in cpu) cpu.firstUse = false;
  const have = new Set(tf.getKernelsForBackend('wasm').map((k) => k.kernelName));
  let n = 0;
  for (const k of tf.getKernelsForBackend('cpu')) {
    if (have.has(k.kernelName)) {
      if (!replace.includes(k.kernelName)) continue;
      tf.unregisterKernel(k.kernelName, 'wasm');
    }
    tf.registerKernel({
      kernelName: k.kernelName,
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const t0 = performance.now();
        const cpuInputs = {};
        const made = [];
        for (const [name, t] of Object.entries(inputs)) {
          if (!t) continue;
          const vals = backend.readSync(t.dataId);
          const dataId = cpu.write(vals.slice(), t.shape, t.dtype);
          made.push(dataId);
          cpuInputs[name] = { dataId, shape: t.shape, dtype: t.dtype };
        }
        let res = k.kernelFunc({ inputs: cpuInputs, backend: cpu, attrs });
        const many = Array.isArray(res);
        if (!many) res = [res];
        const outs = res.map((r) => {
          const out = backend.makeOutput(r.shape, r.dtype);
          backend.typedArrayFromHeap(out).set(cpu.readSync(r.dataId));
          cpu.disposeData(r.dataId, true);
          return out;
        });
        for (const id of made) cpu.disposeData(id, true);
        const s = stats[k.kernelName] || (stats[k.kernelName] = { calls: 0, ms: 0 });
        s.calls++;
        s.ms += performance.now() - t0;
        return many ? outs : outs[0];
      },
    });
    n++;
  }
  return n;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const env = await startTf({ backend: a.backend, threads: a.threads });
  const { tf } = env;
  const stats = {};
  const replace = (process.env.CSM_TFJS_WASM_CPU_KERNELS ?? 'MaxPoolGrad').split(',').filter(Boolean);
  if (a.backend === 'wasm') registerCpuFallbacks(tf, stats, replace);
  const model = await loadModel(tf, a.model);
  if (model.inputs.length !== 1) throw new Error(`${a.model}: ${model.inputs.length} inputs, expected 1`);
  if (a.output >= model.outputs.length) throw new Error(`output ${a.output}: the model has ${model.outputs.length}`);
  const { shape, data } = readNpy(a.input);
  const x = tf.tensor(Float32Array.from(data), shape, 'float32');
  const inName = model.inputs[0].name;
  const outName = model.outputs[a.output].name;
  const b = shape[0];
  const g = tf.grad((xx) => {
    let y = model.execute({ [inName]: xx }, outName);
    if (Array.isArray(y)) y = y[0];
    return y.reshape([b, -1]).slice([0, a.value], [b, 1]).sum();
  });
  const once = async () => {
    const r = g(x);
    const v = await r.data(); // wait for the result, as a user would
    r.dispose();
    return v;
  };
  const first = await once(); // warm-up
  if (a.out) writeNpy(a.out, shape, first);
  let relErr = null;
  if (a.check) {
    const ref = readNpy(a.check).data;
    if (ref.length !== first.length) throw new Error(`${a.check}: ${ref.length} values, gradient has ${first.length}`);
    let e = 0;
    let r2 = 0;
    for (let i = 0; i < ref.length; i++) {
      e += (first[i] - ref[i]) ** 2;
      r2 += ref[i] ** 2;
    }
    relErr = Number(Math.sqrt(e / r2).toExponential(3));
  }
  for (const k of Object.keys(stats)) delete stats[k];
  let n = 0;
  const t0 = performance.now();
  let elapsed = 0;
  do {
    await once();
    n++;
    elapsed = (performance.now() - t0) / 1000;
  } while (elapsed < a.minTime);
  const fallback = {};
  let fallbackMs = 0;
  for (const [k, s] of Object.entries(stats)) {
    fallback[k] = { calls: Number((s.calls / n).toFixed(1)), s: Number((s.ms / 1000 / n).toFixed(4)) };
    fallbackMs += s.ms;
  }
  console.log(
    JSON.stringify({
      model: path.basename(a.model, '.json'),
      batch: b,
      input: shape,
      grad: `${a.output}:${a.value}`,
      seconds_per_grad: Number((elapsed / n).toFixed(6)),
      grads: n,
      backend: `tfjs-${env.backend}`,
      threads: env.threads,
      simd: env.simd,
      fallback,
      fallback_s: Number((fallbackMs / 1000 / n).toFixed(6)),
      cpu_kernels_replaced: a.backend === 'wasm' ? replace : [],
      rel_l2_vs_ref: relErr,
      tfjs: tf.version_core,
    }),
  );
  x.dispose();
  model.dispose();
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`tfjs_grad_bench: ${e && e.message ? e.message : e}`);
    process.exit(1);
  },
);
