'use strict';
// Draws the tray icons (one per node state) and the app icon as PNGs, so the
// art is reproducible from code: `node scripts/make-icons.js` rewrites assets/.
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');

function crc32(buf) {
  let c;
  const table = [];
  for (let n = 0; n < 256; n++) {
    c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  let crc = 0xffffffff;
  for (const b of buf) crc = table[(crc ^ b) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function png(size, pixel) {
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      const [r, g, b, a] = pixel(x + 0.5, y + 0.5);
      const o = y * (size * 4 + 1) + 1 + x * 4;
      raw[o] = r;
      raw[o + 1] = g;
      raw[o + 2] = b;
      raw[o + 3] = a;
    }
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8;
  ihdr[9] = 6;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const segDist = (px, py, ax, ay, bx, by) => {
  const dx = bx - ax;
  const dy = by - ay;
  if (dx === 0 && dy === 0) return Math.hypot(px - ax, py - ay);
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
};
const cover = (d, w) => Math.max(0, Math.min(1, w - d + 0.5));
const blend = (under, over, a) =>
  under.map((u, i) => (i === 3 ? Math.max(u, a * 255) : u * (1 - a) + over[i] * a));

// Glyphs in a unit box (0..1), drawn white on the coloured disc.
const GLYPHS = {
  online: [
    [0.3, 0.52, 0.45, 0.67],
    [0.45, 0.67, 0.72, 0.36],
  ],
  limited: [
    [0.5, 0.28, 0.5, 0.56],
    [0.5, 0.72, 0.5, 0.72],
  ],
  offline: [
    [0.33, 0.33, 0.67, 0.67],
    [0.67, 0.33, 0.33, 0.67],
  ],
  stopped: [
    [0.35, 0.35, 0.65, 0.35],
    [0.65, 0.35, 0.65, 0.65],
    [0.65, 0.65, 0.35, 0.65],
    [0.35, 0.65, 0.35, 0.35],
  ],
  connecting: [
    [0.3, 0.5, 0.3, 0.5],
    [0.5, 0.5, 0.5, 0.5],
    [0.7, 0.5, 0.7, 0.5],
  ],
  unregistered: [
    [0.5, 0.3, 0.5, 0.7],
    [0.3, 0.5, 0.7, 0.5],
  ],
};
const COLORS = {
  online: [22, 163, 74],
  limited: [217, 119, 6],
  offline: [220, 38, 38],
  stopped: [100, 116, 139],
  connecting: [37, 99, 235],
  unregistered: [124, 58, 237],
};

function trayIcon(state, size) {
  const color = COLORS[state];
  const strokes = GLYPHS[state];
  const r = size / 2 - 0.5;
  const stroke = size * 0.085;
  return png(size, (x, y) => {
    const disc = cover(Math.hypot(x - size / 2, y - size / 2), r);
    let px = blend([0, 0, 0, 0], [...color, 255], disc);
    const d = Math.min(
      ...strokes.map(([ax, ay, bx, by]) => segDist(x, y, ax * size, ay * size, bx * size, by * size)),
    );
    px = blend(px, [255, 255, 255, 255], cover(d, stroke) * disc);
    return px.map(Math.round);
  });
}

function appIcon(size) {
  const nodes = [
    [0.3, 0.34],
    [0.7, 0.34],
    [0.5, 0.7],
  ];
  const radius = size * 0.2;
  return png(size, (x, y) => {
    // Rounded square with a vertical gradient.
    const m = size * 0.06;
    const qx = Math.max(Math.abs(x - size / 2) - (size / 2 - m - radius), 0);
    const qy = Math.max(Math.abs(y - size / 2) - (size / 2 - m - radius), 0);
    const inside = cover(Math.hypot(qx, qy), radius);
    const t = y / size;
    let px = blend(
      [0, 0, 0, 0],
      [Math.round(30 + 10 * t), Math.round(64 + 40 * t), Math.round(175 + 50 * t), 255],
      inside,
    );
    const pts = nodes.map(([a, b]) => [a * size, b * size]);
    const edges = [
      [0, 1],
      [1, 2],
      [2, 0],
    ];
    const dl = Math.min(...edges.map(([i, j]) => segDist(x, y, ...pts[i], ...pts[j])));
    px = blend(px, [255, 255, 255, 255], cover(dl, size * 0.025) * inside);
    const dn = Math.min(...pts.map(([a, b]) => Math.hypot(x - a, y - b)));
    px = blend(px, [255, 255, 255, 255], cover(dn, size * 0.09) * inside);
    return px.map(Math.round);
  });
}

const assets = path.join(__dirname, '..', 'assets');
fs.mkdirSync(path.join(assets, 'tray'), { recursive: true });
for (const state of Object.keys(COLORS)) {
  fs.writeFileSync(path.join(assets, 'tray', `${state}.png`), trayIcon(state, 32));
  fs.writeFileSync(path.join(assets, 'tray', `${state}@2x.png`), trayIcon(state, 64));
}
fs.writeFileSync(path.join(assets, 'icon.png'), appIcon(512));
console.log('assets written');
