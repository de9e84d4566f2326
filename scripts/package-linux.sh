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

# Production node_modules: the installed tree less the dev dependencies, as npm
# itself lists it (no network). Copied from the node_modules built by
# `npm ci` under Node 24, so better-sqlite3 is compiled for this runtime.
modules=$(PATH="$node_dir/bin:$PATH" npm ls --omit=dev --all --parseable 2>/dev/null | tail -n +2)
[ -n "$modules" ] || { echo "package-linux: npm ls found no production modules (run npm ci)" >&2; exit 1; }
while IFS= read -r dir; do
  # From the first node_modules on (node_modules may be a link to another checkout's).
  case "$dir" in */node_modules/*) rel=node_modules/${dir#*/node_modules/} ;; *) continue ;; esac
  # The web UI's React is bundled into dist/renderer by vite; typings are for building.
  case "$rel" in node_modules/react | node_modules/react-dom | node_modules/scheduler | node_modules/zustand | node_modules/@types/*) continue ;; esac
  dest="$app/$rel"
  [ -d "$dest" ] && continue
  install -d "$(dirname "$dest")"
  # Nested node_modules are listed on their own; copy each package without them.
  (cd "$dir" && tar cf - --exclude=./node_modules .) | (install -d "$dest" && cd "$dest" && tar xf -)
done <<< "$modules"
# Build leftovers of the native SQLite module (sources, object files) are not needed at run time.
sqlite="$app/node_modules/better-sqlite3"
rm -rf "$sqlite/deps" "$sqlite/src" "$sqlite/build/Release/obj" "$sqlite/build/Release/obj.target" \
  "$sqlite/build/Release/.deps" "$sqlite/build/deps" "$sqlite/build/Release/test_extension.node"
find "$app/node_modules" \( -name '*.map' -o -name '*.md' -a ! -iname 'license*' -o -name '*.ts' -a ! -name '*.d.ts' \) -type f -delete 2>/dev/null || true
find "$app/node_modules" -type d \( -name test -o -name tests -o -name __tests__ -o -name example -o -name examples \) -prune -exec rm -rf {} +
find "$root" -type d -exec chmod 0755 {} + && find "$app" -type f -exec chmod go-w {} +

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
gzip -9n < "$pkg/changelog" > "$doc/changelog.Debian.gz"
chmod 0644 "$doc/changelog.Debian.gz"

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
# zstd: about as small as xz, many times faster to build and to install.
dpkg-deb --root-owner-group -Zzstd -z9 --build "$root" "$deb" >/dev/null
echo "$deb $(du -h "$deb" | cut -f1)"

# OPENIR_SKIP_RPM=1 (scripts/check-deb.sh): the .deb alone.
if [ "${OPENIR_SKIP_RPM:-}" != 1 ] && command -v rpmbuild >/dev/null; then
  bash scripts/package-rpm.sh "$root" "$version" "$out"
fi
