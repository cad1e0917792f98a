#!/usr/bin/env node
// Compares a peer's outputs (csm, or another TF.js backend) with the TF.js oracle's.
//
//   node tests/oracles/compare.mjs --label NAME --oracle DIR --peer DIR [--tol 1e-4] [--header]
//
// Each DIR has outputs.json ({"outputs": [{"name", "shape", "file", ...}]}, in
// model.outputs order, as tfjs_run.mjs writes it) and the .npy files it names.
// Per output: same count, same name (the peer may use the graph node name or the
// signature name, with or without ":0"), same shape, and
// max|peer - oracle| / max|oracle| <= tol (absolute error when the oracle is all
// zeros; NaN only where the oracle has NaN). Prints one row per output:
//   label output shape max_abs_err scale rel status
// Exit 0 when all pass, 1 when any fails (failures listed on stderr), 2 on bad input.
import fs from 'node:fs';
import path from 'node:path';
import { readNpy } from './npy.mjs';

function parseArgs(argv) {
  const a = { tol: 1e-4, header: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--label') a.label = argv[++i];
    else if (k === '--oracle') a.oracle = argv[++i];
    else if (k === '--peer') a.peer = argv[++i];
    else if (k === '--tol') a.tol = Number(argv[++i]);
    else if (k === '--header') a.header = true;
    else throw new Error(`unknown argument ${k}`);
  }
  if (!a.oracle || !a.peer || !(a.tol >= 0)) {
    throw new Error('usage: compare.mjs --label NAME --oracle DIR --peer DIR [--tol 1e-4] [--header]');
  }
  a.label ??= path.basename(a.oracle);
  return a;
}

function readListing(dir, who) {
  const file = path.join(dir, 'outputs.json');
  let j;
  try {
    j = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${who}: cannot read ${file}: ${e.message}`);
  }
  if (!Array.isArray(j.outputs)) throw new Error(`${who}: ${file} has no "outputs" list`);
  return j.outputs;
}

const bare = (n) => String(n ?? '').replace(/:0$/, '');

export function compareArrays(ref, got) {
  let maxErr = 0;
  let scale = 0;
  let nanMismatch = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i];
    const g = got[i];
    if (Number.isNaN(r) || Number.isNaN(g)) {
      if (Number.isNaN(r) !== Number.isNaN(g)) nanMismatch++;
      continue;
    }
    if (!Number.isFinite(r) || !Number.isFinite(g)) {
      if (r !== g) nanMismatch++;
      continue;
    }
    scale = Math.max(scale, Math.abs(r));
    maxErr = Math.max(maxErr, Math.abs(g - r));
  }
  const rel = scale > 0 ? maxErr / scale : maxErr;
  return { maxErr, scale, rel, nanMismatch };
}

const fmt = (x) => (Number.isFinite(x) ? x.toExponential(2) : String(x));
const row = (cols) => cols.map((c, i) => String(c).padEnd([26, 26, 14, 11, 10, 10, 0][i])).join(' ').trimEnd();

function main() {
  const a = parseArgs(process.argv.slice(2));
  const ref = readListing(a.oracle, 'oracle');
  const got = readListing(a.peer, 'peer');
  const failures = [];
  if (a.header) console.log(row(['model', 'output', 'shape', 'max_abs_err', 'scale', 'rel', 'status']));
  if (ref.length !== got.length) {
    failures.push(`${a.label}: ${got.length} outputs, oracle has ${ref.length}`);
  }
  for (let k = 0; k < Math.min(ref.length, got.length); k++) {
    const r = ref[k];
    const g = got[k];
    const why = [];
    const names = [r.name, r.signature_name].filter(Boolean).map(bare);
    if (g.name == null) why.push('peer gave no name');
    else if (!names.includes(bare(g.name))) why.push(`name '${g.name}' != '${names.join("' or '")}'`);
    const R = readNpy(path.join(a.oracle, r.file));
    const G = readNpy(path.join(a.peer, g.file));
    const shapeOk = R.shape.length === G.shape.length && R.shape.every((d, i) => d === G.shape[i]);
    let c = { maxErr: NaN, scale: NaN, rel: NaN, nanMismatch: 0 };
    if (!shapeOk) why.push(`shape [${G.shape}] != [${R.shape}]`);
    else {
      c = compareArrays(R.data, G.data);
      if (c.nanMismatch) why.push(`${c.nanMismatch} NaN/Inf mismatches`);
      if (!(c.rel <= a.tol)) why.push(`rel ${fmt(c.rel)} > ${a.tol}`);
    }
    const status = why.length ? 'FAIL' : 'ok';
    console.log(row([a.label, `${k}:${r.signature_name ? bare(r.signature_name) : r.name}`, `[${R.shape}]`, fmt(c.maxErr), fmt(c.scale), fmt(c.rel), status]));
    if (why.length) failures.push(`${a.label} output ${k} (${r.name}): ${why.join('; ')}`);
  }
  for (const f of failures) console.error(`FAIL ${f}`);
  process.exit(failures.length ? 1 : 0);
}

try {
  main();
} catch (e) {
  console.error(`compare: ${e.message}`);
  process.exit(2);
}
