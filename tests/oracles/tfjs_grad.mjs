#!/usr/bin/env node
// TF.js gradient oracle: d(output[K][:, J])/d(input) of a TF.js graph model with
// tf.grad (@tensorflow/tfjs 4.22, cpu backend by default), the independent
// reference for `csm infer --grad K:J`.
//
//   node tests/oracles/tfjs_grad.mjs --model M.json --input X.npy --grad K:J --out G.npy
//        [--wasm [--threads N]]
//
// K indexes the outputs in model.outputs order (csm's order too), J a value of
// that output flattened per batch item. The function differentiated is
// sum over the batch of output[K].reshape(B, -1)[:, J], with the model's
// execute() inside tf.grad; as batch items do not mix, item b of the result is
// d(output[K][b, J])/d(input[b]). G.npy: float32, the input's shape. Prints one
// JSON line {model, output, value, shape, backend, norm}.
// --wasm is not an oracle: tfjs-backend-wasm 4.22 lacks Conv2DBackpropFilter and
// DepthwiseConv2dNativeBackpropInput/Filter (tf.grad fails on these models), and
// its MaxPoolGrad is wrong on gender's 3x3 stride-2 SAME pools (bench/
// tfjs_grad_bench.mjs runs those kernels through the cpu backend).
// Exit: 0 ok, 1 bad usage, 2 bad input or failure (e.g. an op without a
// gradient in TF.js: the message says "no gradient").
import path from 'node:path';
import { readNpy, writeNpy } from './npy.mjs';
import { startTf, loadModel } from './tfjs_env.mjs';

const USAGE = 'usage: tfjs_grad.mjs --model M.json --input X.npy --grad K:J --out G.npy [--wasm [--threads N]]';

function parseArgs(argv) {
  const a = { wasm: false, threads: 1 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--model') a.model = val();
    else if (k === '--input') a.input = val();
    else if (k === '--out') a.out = val();
    else if (k === '--grad') {
      const m = /^(\d+):(\d+)$/.exec(val());
      if (!m) throw new Error('--grad takes OUTPUT_INDEX:VALUE_INDEX');
      a.output = Number(m[1]);
      a.value = Number(m[2]);
    } else if (k === '--wasm') a.wasm = true;
    else if (k === '--threads') a.threads = Number(val());
    else if (k === '--help' || k === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${k}`);
  }
  if (!a.model || !a.input || !a.out || a.output == null) throw new Error('--model, --input, --grad and --out are required');
  if (!Number.isInteger(a.threads) || a.threads < 1) throw new Error('--threads must be a positive integer');
  return a;
}

// (x) => scalar: sum over the batch of value `value` of output `output`.
function gradTarget(tf, model, output, value) {
  if (model.inputs.length !== 1) throw new Error(`${model.inputs.length} inputs; one expected`);
  if (output >= model.outputs.length) throw new Error(`output ${output}: the model has ${model.outputs.length}`);
  const inName = model.inputs[0].name;
  const outName = model.outputs[output].name;
  return (x) => {
    let y = model.execute({ [inName]: x }, outName);
    if (Array.isArray(y)) y = y[0];
    const b = x.shape[0];
    const flat = y.reshape([b, -1]);
    if (value >= flat.shape[1]) throw new Error(`value ${value}: output ${output} has ${flat.shape[1]} per batch item`);
    return flat.slice([0, value], [b, 1]).sum();
  };
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`tfjs_grad: ${e.message}\n${USAGE}`);
    process.exit(1);
  }
  const env = await startTf({ backend: args.wasm ? 'wasm' : 'cpu', threads: args.threads });
  const { tf } = env;
  const model = await loadModel(tf, args.model);
  const { shape, data } = readNpy(args.input);
  const x = tf.tensor(Float32Array.from(data), shape, 'float32');
  const f = gradTarget(tf, model, args.output, args.value);
  let g;
  try {
    g = tf.grad(f)(x);
  } catch (e) {
    const msg = String(e && e.message ? e.message : e);
    // TF.js: "Cannot compute gradient: gradient function not found for <Op>."
    throw new Error(/gradient function not found/i.test(msg) ? `no gradient in TF.js: ${msg}` : msg);
  }
  const gd = await g.data();
  writeNpy(args.out, g.shape, gd);
  let n2 = 0;
  for (const v of gd) n2 += v * v;
  console.log(
    JSON.stringify({
      model: path.basename(args.model, '.json'),
      output: model.outputs[args.output].name,
      value: args.value,
      shape: g.shape,
      backend: env.backend,
      threads: env.threads,
      norm: Math.sqrt(n2),
      tfjs: tf.version_core,
    }),
  );
  tf.dispose([x, g]);
  model.dispose();
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`tfjs_grad: ${e && e.message ? e.message : e}`);
    process.exit(2);
  },
);
