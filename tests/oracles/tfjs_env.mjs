// Shared TF.js set-up for the oracle (tests/oracles) and the speed peer (bench/):
// finds the pinned npm tree, starts the cpu or wasm backend, loads graph models
// from disk without tfjs-node.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '..', '..');

// deps/npm/node_modules, or $CSM_NPM_DIR (ctest sets it to the same place).
export function npmDir() {
  const dir = process.env.CSM_NPM_DIR || path.join(REPO_ROOT, 'deps', 'npm', 'node_modules');
  if (!fs.existsSync(path.join(dir, '@tensorflow', 'tfjs', 'package.json'))) {
    throw new Error(`@tensorflow/tfjs not found in ${dir} (run scripts/setup.sh)`);
  }
  return dir;
}

export function requireNpm(name) {
  const req = createRequire(path.join(npmDir(), '..', 'package.json'));
  return req(name);
}

// tfjs-backend-wasm disables threads under Node (WASM_HAS_MULTITHREAD_SUPPORT is
// false when IS_NODE, tensorflow/tfjs#3830), yet its threaded build carries Node
// support from Emscripten. Three obstacles, each worked around here:
//  1. the pthread worker script is handed to `new Worker()` as a blob: URL, which
//     Node refuses: we write it to a file and hand over that path;
//  2. that worker then loads the main script from a blob (or from the bundle, which
//     does not define the factory globally): we point it to wasm-out's standalone
//     threaded build, which is the same Emscripten output;
//  3. the C++ side caps the pool at emscripten_num_logical_cores() / 2, which Node
//     answers with os.cpus().length: we report 2 * threads cores during start-up.
// Results are checked against the cpu backend by the oracle test's --wasm mode.
function enableWasmThreads(tf, threads) {
  const outDir = path.join(npmDir(), '@tensorflow', 'tfjs-backend-wasm', 'wasm-out');
  const factoryJs = path.join(outDir, 'tfjs-backend-wasm-threaded-simd.js');
  const req = createRequire(path.join(outDir, 'x.js'));
  const { wasmWorkerContents } = req('./tfjs-backend-wasm-threaded-simd.worker.js');
  const load = `importScripts(${JSON.stringify(factoryJs)})`;
  let src = wasmWorkerContents.replace(/\n/g, '\\n');
  const patched = src
    .replace('importScripts(e.data.urlOrBlob)', load)
    .replace('importScripts(objectUrl)', load);
  if (patched === src) throw new Error('tfjs-backend-wasm worker script has an unexpected form');
  src = patched;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csm-tfjs-wasm-'));
  const workerFile = path.join(dir, 'worker.cjs');
  fs.writeFileSync(workerFile, src);
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  URL.createObjectURL = () => workerFile;
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  const cpus = os.cpus;
  os.cpus = () => {
    const list = cpus();
    while (list.length < 2 * threads) list.push(list[0]);
    return list;
  };
  return () => {
    os.cpus = cpus;
  };
}

// Returns { tf, backend, threads, simd }. backend: 'cpu' or 'wasm'.
export async function startTf({ backend = 'cpu', threads = 1 } = {}) {
  const tf = requireNpm('@tensorflow/tfjs');
  const info = { tf, backend, threads: 1, simd: false };
  if (backend === 'cpu') {
    if (!(await tf.setBackend('cpu'))) throw new Error('cannot start the TF.js cpu backend');
  } else if (backend === 'wasm') {
    const wasm = requireNpm('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(path.join(npmDir(), '@tensorflow', 'tfjs-backend-wasm', 'dist') + path.sep);
    let restore = () => {};
    if (threads > 1) {
      restore = enableWasmThreads(tf, threads);
      wasm.setThreadsCount(threads);
    }
    // The pthread workers are unref()'d: keep the event loop alive while they load.
    const keepAlive = setInterval(() => {}, 1000);
    try {
      if (!(await tf.setBackend('wasm'))) throw new Error('cannot start the TF.js wasm backend');
      await tf.ready();
    } finally {
      clearInterval(keepAlive);
      restore();
    }
    info.threads = wasm.getThreadsCount();
    info.simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  } else {
    throw new Error(`unknown backend '${backend}'`);
  }
  await tf.ready();
  // The cpu backend greets Node users on stderr once ("install tfjs-node"): not for us.
  const active = tf.backend();
  if (active && 'firstUse' in active) active.firstUse = false;
  if (tf.getBackend() !== backend) throw new Error(`TF.js runs on '${tf.getBackend()}', not '${backend}'`);
  return info;
}

// An IOHandler that reads model.json and its weight shards from disk (what
// tf.io.fileSystem does, which needs tfjs-node).
export function fileHandler(tf, jsonPath) {
  return {
    load: async () => {
      const dir = path.dirname(jsonPath);
      const modelJSON = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
      return tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
        const specs = [];
        const parts = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const p of group.paths) {
            const file = path.join(dir, p);
            if (!fs.existsSync(file)) throw new Error(`${path.basename(jsonPath)}: weight shard ${p} missing`);
            parts.push(fs.readFileSync(file));
          }
        }
        const all = Buffer.concat(parts);
        const data = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
        return [specs, data];
      });
    },
  };
}

export async function loadModel(tf, jsonPath) {
  return tf.loadGraphModel(fileHandler(tf, path.resolve(jsonPath)));
}

// Runs the model on the given tensors (one per model input, in model.inputs order);
// returns the output tensors in model.outputs order.
export async function runModel(tf, model, inputs) {
  const feed = {};
  model.inputs.forEach((inp, i) => {
    feed[inp.name] = inputs[i];
  });
  const names = model.outputs.map((o) => o.name);
  let out;
  try {
    out = model.execute(feed, names);
  } catch (e) {
    // Graphs with control flow or dynamic shapes need executeAsync.
    if (!/executeAsync/.test(String(e.message))) throw e;
    out = await model.executeAsync(feed, names);
  }
  return Array.isArray(out) ? out : [out];
}
