'use strict';
// Prints the folders (relative to the project) of the packages the app needs
// at run time: the dependencies in package.json and, recursively, theirs
// (optional and peer ones when installed), resolved the way Node resolves
// them (nearest node_modules up the tree). It reads only node_modules, so it
// answers the same whatever lockfile made them; used by package-linux.sh.
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const readManifest = (dir) => JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));

/** The folder of `name` as seen from package folder `from` (a path under root). */
function resolve(name, from) {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (dir === root || dir === path.dirname(dir)) return null;
  }
}

const seen = new Set();
const missing = [];
function visit(dir, manifest) {
  const required = Object.keys(manifest.dependencies ?? {});
  const optional = [
    ...Object.keys(manifest.optionalDependencies ?? {}),
    ...Object.keys(manifest.peerDependencies ?? {}),
  ];
  for (const [names, mandatory] of [
    [required, true],
    [optional, false],
  ]) {
    for (const name of names) {
      const found = resolve(name, dir);
      if (!found) {
        if (mandatory) missing.push(`${name} (needed by ${path.relative(root, dir) || 'the app'})`);
        continue;
      }
      if (seen.has(found)) continue;
      seen.add(found);
      visit(found, readManifest(found));
    }
  }
}
visit(root, { dependencies: readManifest(root).dependencies });
if (missing.length > 0) {
  process.stderr.write(`prod-modules: not installed: ${missing.join(', ')}; run npm ci\n`);
  process.exit(1);
}
process.stdout.write(
  [...seen]
    .map((dir) => `${path.relative(root, dir)}\n`)
    .sort()
    .join(''),
);
