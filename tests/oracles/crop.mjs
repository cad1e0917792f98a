#!/usr/bin/env node
// Builds a model input batch from face crops of JPEG photos, independently of csm:
// decode (jpeg-js), crop the box, resize bilinearly (half-pixel centres, edge
// clamp) to W x H, RGB in [0,1] or gray (0.299 R + 0.587 G + 0.114 B) for C = 1.
//
//   node tests/oracles/crop.mjs --size W,H,C --out in.npy  IMAGE:X,Y,W,H [IMAGE:X,Y,W,H ...]
//        one batch entry per IMAGE:BOX, in order
//   [--preview DIR]   also write each crop as DIR/<k>.png (for looking at it)
//   --info IMAGE      prints {"width", "height"} of a JPEG
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { writeNpy } from './npy.mjs';
import { requireNpm } from './tfjs_env.mjs';

const USAGE = 'usage: crop.mjs --size W,H,C --out FILE.npy [--preview DIR] IMAGE:X,Y,W,H...';

function decode(file) {
  const jpeg = requireNpm('jpeg-js');
  // maxMemoryUsageInMB: the sample photos are up to a few megapixels.
  return jpeg.decode(fs.readFileSync(file), { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
}

// Bilinear sample of box (x, y, w, h) into an outW x outH x C float array in [0,1].
export function cropResize(img, box, outW, outH, channels) {
  const [bx, by, bw, bh] = box;
  const out = new Float32Array(outW * outH * channels);
  const px = (xx, yy, c) => {
    const cx = Math.min(Math.max(xx, 0), img.width - 1);
    const cy = Math.min(Math.max(yy, 0), img.height - 1);
    return img.data[(cy * img.width + cx) * 4 + c];
  };
  for (let j = 0; j < outH; j++) {
    const sy = by + ((j + 0.5) * bh) / outH - 0.5;
    const y0 = Math.floor(sy);
    const fy = sy - y0;
    for (let i = 0; i < outW; i++) {
      const sx = bx + ((i + 0.5) * bw) / outW - 0.5;
      const x0 = Math.floor(sx);
      const fx = sx - x0;
      const rgb = [0, 1, 2].map((c) => {
        const top = px(x0, y0, c) * (1 - fx) + px(x0 + 1, y0, c) * fx;
        const bot = px(x0, y0 + 1, c) * (1 - fx) + px(x0 + 1, y0 + 1, c) * fx;
        return (top * (1 - fy) + bot * fy) / 255;
      });
      const o = (j * outW + i) * channels;
      if (channels === 1) out[o] = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
      else out.set(rgb, o);
    }
  }
  return out;
}

// Preview as PNG (what image viewers everywhere show), with zlib from Node.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function pngChunk(type, body) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  const tb = Buffer.concat([Buffer.from(type, 'latin1'), body]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(tb));
  return Buffer.concat([len, tb, crc]);
}
export function writePreview(file, data, w, h, channels) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        const v = channels === 1 ? data[y * w + x] : data[(y * w + x) * 3 + c];
        raw[y * (w * 3 + 1) + 1 + x * 3 + c] = Math.round(Math.min(Math.max(v, 0), 1) * 255);
      }
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const png = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', zlib.deflateSync(raw)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
  fs.writeFileSync(file, png);
}

function main(argv) {
  let size;
  let out;
  let preview;
  const items = [];
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--info') {
      const img = decode(argv[++i]);
      console.log(JSON.stringify({ width: img.width, height: img.height }));
      return;
    }
    if (k === '--size') size = (argv[++i] || '').split(',').map(Number);
    else if (k === '--out') out = argv[++i];
    else if (k === '--preview') preview = argv[++i];
    else if (k.startsWith('--')) throw new Error(`unknown option ${k}\n${USAGE}`);
    else {
      const m = /^(.+):(-?[\d.]+),(-?[\d.]+),([\d.]+),([\d.]+)$/.exec(k);
      if (!m) throw new Error(`bad IMAGE:X,Y,W,H '${k}'\n${USAGE}`);
      items.push({ file: m[1], box: m.slice(2, 6).map(Number) });
    }
  }
  if (!size || size.length !== 3 || size.some((v) => !Number.isInteger(v) || v <= 0) || ![1, 3].includes(size[2])) {
    throw new Error(`--size W,H,C with C 1 or 3 is required\n${USAGE}`);
  }
  if (!out || !items.length) throw new Error(USAGE);
  const [w, h, c] = size;
  const per = w * h * c;
  const batch = new Float32Array(per * items.length);
  const cache = new Map();
  items.forEach((it, k) => {
    if (!cache.has(it.file)) cache.set(it.file, decode(it.file));
    const crop = cropResize(cache.get(it.file), it.box, w, h, c);
    batch.set(crop, k * per);
    if (preview) {
      fs.mkdirSync(preview, { recursive: true });
      writePreview(path.join(preview, `${k}.png`), crop, w, h, c);
    }
  });
  writeNpy(out, [items.length, h, w, c], batch);
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('crop.mjs')) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    console.error(`crop: ${e.message}`);
    process.exit(2);
  }
}
