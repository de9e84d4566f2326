#!/usr/bin/env bash
# `npm run package:linux`: the Linux server package of the headless host and
# the control plane, dist/packages/openir_<version>_amd64.deb (and an .rpm of
# the same tree when rpmbuild is installed). Self-contained: it carries the
# Node 24 runtime CI uses (scripts/install-node.sh, copied from
# OPENIR_NODE_DIR, default /opt/node-24: no download here), the built app
# (dist/ without the Electron faces) and the production node_modules, whose
# native modules were built for that runtime by `npm ci` under it.
# Needs: a built dist/ (npm run build), dpkg-deb. Sources: packaging/linux/.
set -euo pipefail
cd "$(dirname "$0")/.."

node_dir=${OPENIR_NODE_DIR:-/opt/node-24}
pkg=packaging/linux
version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json)
arch=amd64
out=dist/packages
deb="$out/openir_${version}_${arch}.deb"

[ "$(uname -m)" = x86_64 ] || { echo "package-linux: only amd64 is packaged" >&2; exit 1; }
[ -x "$node_dir/bin/node" ] || { echo "package-linux: no Node in $node_dir; run scripts/install-node.sh $node_dir" >&2; exit 1; }
node_version=$("$node_dir/bin/node" --version)
case "$node_version" in v24.*) ;; *) echo "package-linux: $node_dir holds Node $node_version, not 24" >&2; exit 1 ;; esac
[ -f dist/cli/main.js ] && [ -f dist/renderer/index.html ] || { echo "package-linux: run npm run build first" >&2; exit 1; }

mkdir -p "$out"
work=$(cd "$out" && mktemp -d "$PWD/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
lib="$root/usr/lib/openir"
app="$lib/app"

# The runtime: the node binary and its licence, nothing else of the tarball
# (npm, headers and man pages are for building, not running).
install -d "$lib/node/bin"
install -m 0755 "$node_dir/bin/node" "$lib/node/bin/node"
install -m 0644 "$node_dir/LICENSE" "$lib/node/LICENSE"

# The app: the CLI, the host and its web UI, the control plane. dist/main and
# dist/preload are the Electron faces; source maps and declarations are for
# development.
install -d "$app/bin" "$app/dist"
install -m 0644 bin/openir.js bin/openir-control-plane.js "$app/bin/"
install -m 0644 package.json "$app/"
for part in cli control-plane core shared web renderer; do
  cp -R "dist/$part" "$app/dist/$part"
done
find "$app/dist" \( -name '*.map' -o -name '*.d.ts' -o -name '*.tsbuildinfo' \) -delete

# Production node_modules: the dependencies' closure as Node resolves it
# (scripts/prod-modules.js; no network, no dev dependencies). Copied from the
# node_modules `npm ci` made under Node 24, so native modules fit this runtime.
modules=$("$node_dir/bin/node" scripts/prod-modules.js)
while IFS= read -r rel; do
  # The web UI's React is bundled into dist/renderer by vite; typings are for building.
  case "$rel" in node_modules/react | node_modules/react-dom | node_modules/scheduler | node_modules/zustand | node_modules/@types/*) continue ;; esac
  dest="$app/$rel"
  [ -d "$dest" ] && continue
  install -d "$(dirname "$dest")"
  # Nested node_modules are listed on their own; copy each package without them.
  (cd "$rel" && tar cf - --exclude=./node_modules .) | (install -d "$dest" && cd "$dest" && tar xf -)
done <<< "$modules"
# better-sqlite3 ships N-API builds for every platform: keep the one for glibc
# x64 (it loads prebuilds/<platform>-<arch>.node), drop its sources and any
# local build.
sqlite="$app/node_modules/better-sqlite3"
find "$sqlite/prebuilds" -type f ! -name linux-x64.node -delete
rm -rf "$sqlite/deps" "$sqlite/src" "$sqlite/build"
# What only a developer of each module needs: docs, tests, maps, sources in
# TypeScript, VCS and linter dotfiles.
find "$app/node_modules" -type f \( -name '*.map' -o -name '*.md' ! -iname 'license*' \
  -o -name '*.ts' ! -name '*.d.ts' -o -name '.git*' -o -name '.eslintrc*' -o -name '.npmignore' \
  -o -name '.travis.yml' -o -name '.editorconfig' -o -name '.prettierrc*' -o -name '.taprc' \
  -o -name '*.sh' -o -name '*.html' \) -delete
find "$app/node_modules" -type d \( -name test -o -name tests -o -name __tests__ -o -name .github -o -name .husky \) \
  -prune -exec rm -rf {} +
# Nothing in node_modules is run as a program (node loads it), and the native
# modules are stripped like every Debian binary (when binutils is installed).
find "$app/node_modules" -type f -exec chmod 0644 {} +
if command -v strip >/dev/null; then
  find "$app/node_modules" -name '*.node' -exec strip --strip-unneeded {} +
  strip --strip-unneeded "$lib/node/bin/node"
fi
# The wrappers in /usr/bin run bin/*.js with the bundled node: no file here is executable.
find "$root" -type d -exec chmod 0755 {} + && find "$app" -type f -exec chmod 0644 {} +

# The runtime must load the app and its native modules on its own.
(cd / && "$lib/node/bin/node" -e "
  require('$app/node_modules/better-sqlite3')(':memory:').prepare('select 1').get();
  require('$app/node_modules/@napi-rs/keyring');
  require('$app/dist/control-plane/main.js'); require('$app/dist/cli/main.js');
")

# The commands, the units, the settings file, the docs.
install -D -m 0755 "$pkg/openir.sh" "$root/usr/bin/openir"
install -D -m 0755 "$pkg/openir-control-plane.sh" "$root/usr/bin/openir-control-plane"
install -D -m 0644 "$pkg/openir.service" "$root/lib/systemd/system/openir.service"
install -D -m 0644 "$pkg/openir-control-plane.service" "$root/lib/systemd/system/openir-control-plane.service"
install -D -m 0644 "$pkg/default" "$root/etc/default/openir"
install -d -m 0755 "$root/etc/openir"
doc="$root/usr/share/doc/openir"
install -D -m 0644 "$pkg/copyright" "$doc/copyright"
install -m 0644 README.md "$doc/README.md"
# A native package (no Debian revision): changelog.gz, not changelog.Debian.gz.
gzip -9n < "$pkg/changelog" > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

# Debian control files.
ctrl="$root/DEBIAN"
install -d "$ctrl"
install -m 0755 "$pkg/postinst" "$pkg/prerm" "$pkg/postrm" "$ctrl/"
echo /etc/default/openir > "$ctrl/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" "$pkg/control" > "$ctrl/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$ctrl/md5sums"
chmod 0644 "$ctrl/control" "$ctrl/conffiles" "$ctrl/md5sums"

rm -f "$deb"
# xz, as Debian requires of its archive members (lintian refuses zstd). Level
# 1: 13 s and 38 MB here, where level 6 took 4 minutes for 32 MB.
dpkg-deb --root-owner-group -Zxz -z1 --threads-max="$(nproc)" --build "$root" "$deb" >/dev/null
echo "$deb $(du -h "$deb" | cut -f1)"

# OPENIR_SKIP_RPM=1 (scripts/check-deb.sh): the .deb alone.
if [ "${OPENIR_SKIP_RPM:-}" != 1 ] && command -v rpmbuild >/dev/null; then
  bash scripts/package-rpm.sh "$root" "$version" "$out"
fi
