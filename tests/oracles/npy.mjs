// Minimal, strict .npy reader and writer (NumPy format versions 1.0, 2.0, 3.0).
// Reads bool, (u)int8/16/32/64 and float16/32/64 in either byte order, C order only;
// writes little-endian float32 or int32, C order. Errors are thrown with the file name.
import fs from 'node:fs';
import path from 'node:path';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

const KINDS = {
  b1: { size: 1, get: (dv, o) => dv.getUint8(o) },
  u1: { size: 1, get: (dv, o) => dv.getUint8(o) },
  i1: { size: 1, get: (dv, o) => dv.getInt8(o) },
  u2: { size: 2, get: (dv, o, le) => dv.getUint16(o, le) },
  i2: { size: 2, get: (dv, o, le) => dv.getInt16(o, le) },
  u4: { size: 4, get: (dv, o, le) => dv.getUint32(o, le) },
  i4: { size: 4, get: (dv, o, le) => dv.getInt32(o, le) },
  u8: { size: 8, get: (dv, o, le) => Number(dv.getBigUint64(o, le)) },
  i8: { size: 8, get: (dv, o, le) => Number(dv.getBigInt64(o, le)) },
  f2: { size: 2, get: (dv, o, le) => halfToFloat(dv.getUint16(o, le)) },
  f4: { size: 4, get: (dv, o, le) => dv.getFloat32(o, le) },
  f8: { size: 8, get: (dv, o, le) => dv.getFloat64(o, le) },
};

function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

// Parses the Python-literal header dict, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
function parseHeader(text, name) {
  const fail = (why) => {
    throw new Error(`${name}: bad .npy header (${why}): ${text.trim()}`);
  };
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shape) fail('missing descr, fortran_order or shape');
  if (fortran[1] === 'True') fail('Fortran order is not supported');
  const dims = shape[1]
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      if (!/^\d+$/.test(s)) fail(`dimension '${s}'`);
      return Number(s);
    });
  const m = /^([<>|=])([biuf])(\d+)$/.exec(descr[1]);
  if (!m) fail(`unsupported dtype '${descr[1]}'`);
  const kind = `${m[2]}${m[3]}`;
  if (!KINDS[kind]) fail(`unsupported dtype '${descr[1]}'`);
  const littleEndian = m[1] !== '>';
  return { descr: descr[1], kind, littleEndian, shape: dims };
}

// Returns { shape, dtype ('float32' | 'int32' | original kind), data (typed array) }.
// Floats become Float32Array, integers and bools Int32Array (with a range check),
// unless {raw: true}, when data is a Float64Array of the exact values.
export function readNpy(file, { raw = false } = {}) {
  const buf = fs.readFileSync(file);
  const name = path.basename(file);
  if (buf.length < 10 || MAGIC.some((b, i) => buf[i] !== b)) {
    throw new Error(`${name}: not a .npy file`);
  }
  const major = buf[6];
  let headerLen;
  let offset;
  if (major === 1) {
    headerLen = buf.readUInt16LE(8);
    offset = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new Error(`${name}: truncated .npy header`);
    headerLen = buf.readUInt32LE(8);
    offset = 12;
  } else {
    throw new Error(`${name}: unsupported .npy version ${major}`);
  }
  if (offset + headerLen > buf.length) throw new Error(`${name}: truncated .npy header`);
  const header = parseHeader(buf.toString(major === 3 ? 'utf8' : 'latin1', offset, offset + headerLen), name);
  const dataStart = offset + headerLen;
  const count = header.shape.reduce((a, b) => a * b, 1);
  const { size, get } = KINDS[header.kind];
  if (!Number.isSafeInteger(count * size)) throw new Error(`${name}: shape too large`);
  if (buf.length - dataStart !== count * size) {
    throw new Error(`${name}: data has ${buf.length - dataStart} bytes, shape [${header.shape}] of ${header.descr} needs ${count * size}`);
  }
  const dv = new DataView(buf.buffer, buf.byteOffset + dataStart, count * size);
  const isFloat = header.kind[0] === 'f';
  let data;
  if (raw) data = new Float64Array(count);
  else data = isFloat ? new Float32Array(count) : new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const v = get(dv, i * size, header.littleEndian);
    if (!raw && !isFloat && (v < -2147483648 || v > 2147483647)) {
      throw new Error(`${name}: integer ${v} at index ${i} does not fit int32`);
    }
    data[i] = v;
  }
  return { shape: header.shape, dtype: raw ? header.kind : isFloat ? 'float32' : 'int32', data };
}

// Writes data (array-like of numbers) with the given shape as '<f4' (default) or '<i4'.
// Atomic: written to a temporary name, then renamed.
export function writeNpy(file, shape, data, dtype = 'float32') {
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) {
    throw new Error(`${path.basename(file)}: ${data.length} values for shape [${shape}]`);
  }
  let body;
  let descr;
  if (dtype === 'float32') {
    descr = '<f4';
    body = Buffer.alloc(count * 4);
    for (let i = 0; i < count; i++) body.writeFloatLE(data[i], i * 4);
  } else if (dtype === 'int32') {
    descr = '<i4';
    body = Buffer.alloc(count * 4);
    for (let i = 0; i < count; i++) body.writeInt32LE(data[i], i * 4);
  } else {
    throw new Error(`writeNpy: unsupported dtype ${dtype}`);
  }
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Pad so that the data starts at a multiple of 64 bytes, header ends with '\n'.
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - 10 - 1, ' ') + '\n';
  const head = Buffer.alloc(10);
  MAGIC.forEach((b, i) => (head[i] = b));
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(dict.length, 8);
  const tmp = `${file}.tmp.${process.pid}`;
  fs.writeFileSync(tmp, Buffer.concat([head, Buffer.from(dict, 'latin1'), body]));
  fs.renameSync(tmp, file);
}
