#!/usr/bin/env node
// TF.js numerical oracle: runs a TF.js graph model with @tensorflow/tfjs 4.22 on
// the .npy input(s) and writes each output as DIR/out<k>.npy (float32, C order)
// and DIR/outputs.json (names in model.outputs order, shapes, dtypes).
//
//   node tests/oracles/tfjs_run.mjs --model models/X.json --input in.npy --outdir DIR
//        [--input in2.npy ...]   one per model input, in model.inputs order
//        [--wasm [--threads N]]  tfjs-backend-wasm instead of the cpu backend
//   node tests/oracles/tfjs_run.mjs --info --model models/X.json [--model ...]
//        prints each model's inputs and outputs as one JSON line on stdout
//
// Exit: 0 ok, 1 bad usage, 2 bad input or failure to run the model.
import fs from 'node:fs';
import path from 'node:path';
import { readNpy, writeNpy } from './npy.mjs';
import { startTf, loadModel, runModel } from './tfjs_env.mjs';

const USAGE =
  'usage: tfjs_run.mjs --model M.json (--info | --input X.npy... --outdir DIR) [--wasm [--threads N]]';

function parseArgs(argv) {
  const a = { models: [], inputs: [], wasm: false, threads: 1, info: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--model') a.models.push(val());
    else if (k === '--input') a.inputs.push(val());
    else if (k === '--outdir') a.outdir = val();
    else if (k === '--wasm') a.wasm = true;
    else if (k === '--threads') a.threads = Number(val());
    else if (k === '--info') a.info = true;
    else if (k === '--help' || k === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${k}`);
  }
  if (!a.models.length) throw new Error('--model is required');
  if (!a.info && (!a.inputs.length || !a.outdir)) throw new Error('--input and --outdir are required');
  if (!Number.isInteger(a.threads) || a.threads < 1) throw new Error('--threads must be a positive integer');
  return a;
}

const shapeOf = (s) => (s ? s.map((d) => (d == null || d < 0 ? -1 : d)) : null);

// Names in model.inputs / model.outputs order (graph node names), with the
// signature's names (model.inputNodes / outputNodes) where the model has one.
function ioInfo(model, which) {
  const nodes = which === 'inputs' ? model.inputNodes : model.outputNodes;
  return model[which].map((t, i) => {
    const info = { name: t.name, shape: shapeOf(t.shape), dtype: t.dtype || null };
    if (nodes && nodes[i] && nodes[i] !== t.name) info.signature_name = nodes[i];
    return info;
  });
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`tfjs_run: ${e.message}\n${USAGE}`);
    process.exit(1);
  }
  const env = await startTf({ backend: args.wasm ? 'wasm' : 'cpu', threads: args.threads });
  const { tf } = env;
  if (args.info) {
    for (const file of args.models) {
      const m = await loadModel(tf, file);
      console.log(JSON.stringify({ model: path.basename(file, '.json'), inputs: ioInfo(m, 'inputs'), outputs: ioInfo(m, 'outputs') }));
      m.dispose();
    }
    return;
  }
  if (args.models.length !== 1) throw new Error('give one --model');
  args.model = args.models[0];
  const model = await loadModel(tf, args.model);
  const inputsInfo = ioInfo(model, 'inputs');
  const outputsInfo = ioInfo(model, 'outputs');
  if (args.inputs.length !== model.inputs.length) {
    throw new Error(`${path.basename(args.model)} has ${model.inputs.length} input(s), got ${args.inputs.length} --input`);
  }
  const tensors = args.inputs.map((file, i) => {
    const { shape, data } = readNpy(file);
    const want = inputsInfo[i];
    if (want.shape) {
      const ok = want.shape.length === shape.length && want.shape.every((d, j) => d === -1 || d === shape[j]);
      if (!ok) throw new Error(`${path.basename(file)}: shape [${shape}] does not fit input ${want.name} [${want.shape}]`);
    }
    return tf.tensor(data, shape, want.dtype === 'int32' ? 'int32' : 'float32');
  });
  const outs = await runModel(tf, model, tensors);
  fs.mkdirSync(args.outdir, { recursive: true });
  const listed = [];
  for (let k = 0; k < outs.length; k++) {
    const t = outs[k];
    const file = `out${k}.npy`;
    writeNpy(path.join(args.outdir, file), t.shape, await t.data());
    listed.push({ ...outputsInfo[k], index: k, shape: t.shape, dtype: t.dtype, file });
  }
  const meta = {
    model: path.basename(args.model, '.json'),
    tfjs: tf.version_core,
    backend: env.backend,
    threads: env.threads,
    simd: env.simd,
    inputs: inputsInfo.map((inp, i) => ({ ...inp, file: path.resolve(args.inputs[i]), shape_given: tensors[i].shape })),
    outputs: listed,
  };
  const tmp = path.join(args.outdir, `outputs.json.tmp.${process.pid}`);
  fs.writeFileSync(tmp, JSON.stringify(meta, null, 1) + '\n');
  fs.renameSync(tmp, path.join(args.outdir, 'outputs.json'));
  tf.dispose([...tensors, ...outs]);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`tfjs_run: ${e && e.message ? e.message : e}`);
    process.exit(2);
  },
);
