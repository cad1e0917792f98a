// Face oracle: @vladmandic/human 3.3.6 (the library the BlazeFace and FaceMesh
// models come from) on the pure-JS TF.js cpu backend, so that csm's detector
// and mesh are compared against the original pipeline rather than against
// themselves.
//
//   node human_faces.mjs [--detector front|back] [--min-score S] [--iou T]
//                        [--mesh] [--emotion] [--rotation] [--models DIR] IMAGE...
//
// Prints {"images": [{"path", "width", "height", "faces": [...]}]}. Each face:
//   box       the detector's tight box [x, y, w, h] in pixels, recovered from
//             human's enlarged (x1.4) box (human only reports the enlarged one)
//   keypoints the 6 BlazeFace keypoints [x, y]
//   score     detector confidence (human rounds it to 0.01)
// and with --mesh, from a second run with FaceMesh enabled (iris off):
//   mesh      468 [x, y, z], faceScore, rotation {roll, yaw, pitch} (degrees)
//   meshBox   human's box from the mesh
//   emotion   with --emotion: human's top expression label
// Faces of the mesh run are matched to detections by the nearest centre.
//
// Human's node builds need tfjs-node; its browser bundle (human.esm.js, with
// TF.js 4.22 inside) runs under Node on the cpu backend. Models are served to
// its loader by a fetch() stub reading --models DIR (default models/).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import util from 'node:util';
import { npmDir, requireNpm, REPO_ROOT } from './tfjs_env.mjs';

function parseArgs(argv) {
  const a = { detector: 'back', minScore: 0.5, iou: 0.3, mesh: false, rotation: false, images: [] };
  a.models = process.env.CSM_MODELS_DIR || path.join(REPO_ROOT, 'models');
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--detector') a.detector = next();
    else if (k === '--min-score') a.minScore = Number(next());
    else if (k === '--iou') a.iou = Number(next());
    else if (k === '--mesh') a.mesh = true;
    else if (k === '--emotion') a.mesh = a.emotion = true;
    else if (k === '--rotation') a.rotation = true;
    else if (k === '--models') a.models = next();
    else if (k.startsWith('--')) throw new Error(`unknown option ${k}`);
    else a.images.push(k);
  }
  if (!['front', 'back'].includes(a.detector)) throw new Error('--detector is front or back');
  if (!a.images.length) throw new Error('no images');
  return a;
}

// Serves http://csm.local/<name> from the models folder; everything else fails.
function stubFetch(modelsDir) {
  globalThis.fetch = async (url) => {
    const u = String(url);
    const prefix = 'http://csm.local/';
    if (!u.startsWith(prefix)) throw new Error(`oracle fetch: unexpected URL ${u}`);
    const file = path.join(modelsDir, decodeURIComponent(u.slice(prefix.length)));
    if (!fs.existsSync(file)) return new Response(null, { status: 404, statusText: 'not found' });
    const body = fs.readFileSync(file);
    const type = file.endsWith('.json') ? 'application/json' : 'application/octet-stream';
    return new Response(body, { status: 200, headers: { 'content-type': type } });
  };
}

function decodeImage(file) {
  const buf = fs.readFileSync(file);
  if (buf[0] === 0x89 && buf[1] === 0x50) throw new Error(`${file}: PNG input is not supported by the oracle`);
  const jpeg = requireNpm('jpeg-js');
  const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 1024 });
  return img; // { width, height, data: RGB bytes }
}

function config(a, mesh) {
  return {
    backend: 'cpu',
    modelBasePath: 'http://csm.local/',
    debug: false,
    warmup: 'none',
    cacheSensitivity: 0,
    skipAllowed: false,
    filter: { enabled: false },
    gesture: { enabled: false },
    body: { enabled: false },
    hand: { enabled: false },
    object: { enabled: false },
    segmentation: { enabled: false },
    face: {
      enabled: true,
      detector: {
        modelPath: `blazeface-${a.detector}.json`,
        rotation: a.rotation,
        maxDetected: 64,
        minConfidence: a.minScore,
        iouThreshold: a.iou,
        skipFrames: 0,
        skipTime: 0,
        return: false,
      },
      mesh: { enabled: mesh, modelPath: 'facemesh.json' },
      attention: { enabled: false },
      iris: { enabled: false },
      emotion: { enabled: mesh && !!a.emotion, modelPath: 'emotion.json', minConfidence: 0 },
      description: { enabled: false },
      antispoof: { enabled: false },
      liveness: { enabled: false },
      gear: { enabled: false },
    },
  };
}

// The browser bundle stubs out require('util'), which TF.js's Node platform
// wants for TextEncoder: load a copy whose platform gets Node's util.
let humanModule = null;
async function importHuman() {
  if (humanModule) return humanModule;
  const src = fs.readFileSync(path.join(npmDir(), '@vladmandic', 'human', 'dist', 'human.esm.js'), 'utf8');
  const patched = src.replace('this.util = $k()', 'this.util = globalThis.__csmNodeUtil');
  if (patched === src) throw new Error('human.esm.js has an unexpected form (TF.js Node platform)');
  globalThis.__csmNodeUtil = util;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csm-human-'));
  const file = path.join(dir, 'human.esm.mjs');
  fs.writeFileSync(file, patched);
  try {
    humanModule = await import(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return humanModule;
}

async function makeHuman(a, mesh) {
  const mod = await importHuman();
  const Human = mod.Human || mod.default;
  const human = new Human(config(a, mesh));
  await human.load();
  const tf = human.tf;
  const active = tf.backend();
  if (active && 'firstUse' in active) active.firstUse = false;
  return human;
}

async function detect(human, img) {
  const tf = human.tf;
  const t = tf.tensor4d(img.data, [1, img.height, img.width, 3], 'int32');
  const res = await human.detect(t);
  tf.dispose(t);
  if (res.error) throw new Error(`human: ${res.error}`);
  return res.face;
}

const DEG = 180 / Math.PI;

async function main() {
  const a = parseArgs(process.argv.slice(2));
  stubFetch(a.models);
  // Human logs its version and backend on console: keep stdout for the JSON.
  const log = console.log;
  console.log = (...x) => console.error(...x);
  const det = await makeHuman(a, false);
  const withMesh = a.mesh ? await makeHuman(a, true) : null;
  const images = [];
  for (const file of a.images) {
    const img = decodeImage(file);
    const W = img.width;
    const H = img.height;
    const faces = (await detect(det, img)).map((f) => {
      // boxRaw is the unclamped enlarged square / image size; size is the
      // enlarged box's w, h before squaring: undo the x1.4 around the centre.
      const cx = (f.boxRaw[0] + f.boxRaw[2] / 2) * W;
      const cy = (f.boxRaw[1] + f.boxRaw[3] / 2) * H;
      const w = f.size[0] / 1.4;
      const h = f.size[1] / 1.4;
      return { box: [cx - w / 2, cy - h / 2, w, h], keypoints: f.mesh.map((p) => [p[0], p[1]]), score: f.boxScore };
    });
    if (withMesh) {
      for (const m of await detect(withMesh, img)) {
        const mx = m.box[0] + m.box[2] / 2;
        const my = m.box[1] + m.box[3] / 2;
        let best = null;
        let bestD = Infinity;
        for (const f of faces) {
          const d = Math.hypot(f.box[0] + f.box[2] / 2 - mx, f.box[1] + f.box[3] / 2 - my);
          if (d < bestD && !f.mesh) {
            best = f;
            bestD = d;
          }
        }
        if (!best) continue;
        best.mesh = m.mesh.map((p) => [p[0], p[1], p[2]]);
        best.faceScore = m.faceScore;
        best.meshBox = m.box;
        const ang = m.rotation ? m.rotation.angle : null;
        if (ang) best.rotation = { roll: ang.roll * DEG, yaw: ang.yaw * DEG, pitch: ang.pitch * DEG };
        if (m.emotion && m.emotion.length) best.emotion = m.emotion[0].emotion; // human's top label
      }
    }
    images.push({ path: file, width: W, height: H, faces });
  }
  console.log = log;
  process.stdout.write(`${JSON.stringify({ images })}\n`);
}

main().catch((e) => {
  process.stderr.write(`human_faces.mjs: ${e.message}\n`);
  process.exit(1);
});
