// Reports how much JavaScript the Canary plugin adds to the app, from a
// production build of packages/app: for every emitted chunk, the share of its
// source-mapped bytes that come from plugins/canary/src (or canary-common), and
// whether the chunk is loaded up front (referenced from index.html) or lazily.
// Writes bench/results/frontend-size.json and prints a table.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dist = path.join(root, 'packages/app/dist');
const staticDir = path.join(dist, 'static');
if (!fs.existsSync(staticDir)) {
  console.error('packages/app/dist is missing: run `./dev bench size` (it builds the app first).');
  process.exit(1);
}
const html = fs.readFileSync(path.join(dist, 'index.html'), 'utf8');
const ours = /plugins\/canary(-common)?\/src\//;

const chunks = [];
for (const file of fs.readdirSync(staticDir)) {
  if (!file.endsWith('.js')) continue;
  const mapFile = path.join(staticDir, `${file}.map`);
  if (!fs.existsSync(mapFile)) continue;
  const map = JSON.parse(fs.readFileSync(mapFile, 'utf8'));
  const contents = map.sourcesContent ?? [];
  let ourSource = 0;
  let allSource = 0;
  map.sources.forEach((s, i) => {
    const n = (contents[i] ?? '').length;
    allSource += n;
    if (ours.test(s)) ourSource += n;
  });
  if (!ourSource) continue;
  const code = fs.readFileSync(path.join(staticDir, file));
  const share = allSource ? ourSource / allSource : 0;
  chunks.push({
    file,
    loading: html.includes(file) ? 'initial' : 'lazy',
    bytes: code.length,
    gzipBytes: zlib.gzipSync(code).length,
    canarySourceShare: Number(share.toFixed(3)),
    canaryModules: map.sources.filter(s => ours.test(s)).length,
  });
}
chunks.sort((a, b) => b.bytes - a.bytes);
const sum = (k, f) => chunks.filter(f).reduce((t, c) => t + c[k], 0);
const result = {
  measuredAt: new Date().toISOString(),
  note: 'Chunks of the production app build that contain Coalmine frontend code. "canarySourceShare" is the share of the chunk\'s original source bytes that are ours; shared chunks also carry libraries such as recharts.',
  lazy: { chunks: chunks.filter(c => c.loading === 'lazy').length, bytes: sum('bytes', c => c.loading === 'lazy'), gzipBytes: sum('gzipBytes', c => c.loading === 'lazy') },
  initial: { chunks: chunks.filter(c => c.loading === 'initial').length, bytes: sum('bytes', c => c.loading === 'initial'), gzipBytes: sum('gzipBytes', c => c.loading === 'initial') },
  chunks,
};
fs.mkdirSync(path.join(root, 'bench/results'), { recursive: true });
fs.writeFileSync(path.join(root, 'bench/results/frontend-size.json'), `${JSON.stringify(result, null, 2)}\n`);
const kb = n => `${(n / 1024).toFixed(1)} KiB`;
console.log('chunk'.padEnd(40), 'loading'.padEnd(8), 'size'.padStart(11), 'gzip'.padStart(11), 'ours');
for (const c of chunks) {
  console.log(c.file.padEnd(40), c.loading.padEnd(8), kb(c.bytes).padStart(11), kb(c.gzipBytes).padStart(11), `${Math.round(c.canarySourceShare * 100)} %`);
}
console.log(`lazy: ${kb(result.lazy.bytes)} (${kb(result.lazy.gzipBytes)} gzip) in ${result.lazy.chunks} chunks; initial: ${kb(result.initial.bytes)} (${kb(result.initial.gzipBytes)} gzip)`);
