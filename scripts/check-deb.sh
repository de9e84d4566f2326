#!/usr/bin/env bash
# CI check of the Linux server package (run by .ci/run as root, after npm test):
# builds the .deb from this checkout, installs it with dpkg -i, and checks
#  - /usr/bin/openir runs with no Node on PATH (a `node` there that fails);
#  - the control plane and the node run as their service users with exactly
#    the installed units' ExecStart, Environment= and EnvironmentFile= (this
#    machine has no running systemd, so runuser stands in for it);
#  - the node registers from /etc/default/openir and is Online; root and a
#    member of the openir group reach its socket, another user does not;
#  - `openir ui-url` links work once;
#  - after a restart it is the same node (one node on the control plane);
#  - dpkg -r keeps /var/lib/openir, dpkg -P removes it and the users;
#  - systemd-analyze verify accepts both units.
# Prints the package size and the time from dpkg -i to Online.
#   scripts/check-deb.sh [--no-build]     (--no-build: use dist/packages as it is)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "check-deb: run as root (it installs the package)" >&2; exit 1; }

NODE=${OPENIR_NODE_DIR:-/opt/node-24}/bin/node # this script's own helper, never the package's
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  dpkg -P openir >/dev/null 2>&1 || true
  userdel ci-openir-admin 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
step() { echo "check-deb: $*"; }
fail() {
  echo "check-deb: FAILED: $*" >&2
  for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }; done
  exit 1
}
json() { "$NODE" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);console.log(eval(process.argv[1]))})' "$1"; }
free_port() { "$NODE" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

if [ "${1:-}" != --no-build ]; then
  step "building the package"
  OPENIR_SKIP_RPM=1 npm run --silent package:linux
fi
version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json)
deb="dist/packages/openir_${version}_amd64.deb"
[ -f "$deb" ] || fail "$deb was not built"
size=$(du -h "$deb" | cut -f1)

dpkg -P openir >/dev/null 2>&1 || true
rm -rf /var/lib/openir /var/lib/openir-control-plane
step "dpkg -i $deb ($size)"
t0=$(date +%s.%N)
dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || fail "dpkg -i"
dpkg_s=$("$NODE" -e "console.log(($(date +%s.%N) - ${t0}).toFixed(1))")
grep -q 'sudo openir register --key-file' "$work/dpkg.log" || fail "postinst did not print the next step"

# A PATH whose `node` fails: the package must run on its own runtime.
mkdir -p "$work/fake-bin"
printf '#!/bin/sh\necho "the system node was used" >&2\nexit 97\n' >"$work/fake-bin/node"
chmod 755 "$work/fake-bin/node"
SYS_PATH="$work/fake-bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
chmod 755 "$work"
got=$(env PATH="$SYS_PATH" /usr/bin/openir --version) || fail "openir --version"
[ "$got" = "$version" ] || fail "openir --version printed '$got', not $version"
env PATH="$SYS_PATH" /usr/bin/openir-control-plane --help >/dev/null || fail "openir-control-plane --help"
step "openir --version = $got with no usable node on PATH"

if command -v systemd-analyze >/dev/null; then
  for unit in openir.service openir-control-plane.service; do
    systemd-analyze verify "/lib/systemd/system/$unit" >"$work/verify-$unit.log" 2>&1 || {
      cat "$work/verify-$unit.log" >&2
      fail "systemd-analyze verify $unit"
    }
  done
  step "systemd-analyze verify: both units pass"
fi

# Starts a unit the way systemd would: its user, its state directory, its
# environment (Environment= first, then EnvironmentFile=, which wins), and its
# ExecStart with $VAR split at whitespace and ${VAR} kept whole.
# With extra arguments, they are appended to ExecStart and it runs in the foreground.
start_unit() { # unit log [extra args…]
  local file="/lib/systemd/system/$1" log=$2
  shift 2
  field() { sed -n "s/^$1=//p" "$file" | tail -n 1; }
  local user group state mode envfile exec_start
  user=$(field User) group=$(field Group) state=$(field StateDirectory)
  mode=$(field StateDirectoryMode) envfile=$(field EnvironmentFile) exec_start=$(field ExecStart)
  envfile=${envfile#-}
  install -d -o "$user" -g "$group" -m "${mode:-0755}" "/var/lib/$state"
  local -A vars=()
  local assignments=() line
  while IFS= read -r line; do assignments+=("$line"); done < <(
    field_all() { sed -n "s/^$1=//p" "$file"; }
    field_all Environment
    [ -f "$envfile" ] && grep -E '^[A-Za-z_][A-Za-z0-9_]*=' "$envfile"
  )
  for line in "${assignments[@]}"; do vars[${line%%=*}]=${line#*=}; done
  local argv=() word name
  for word in $exec_start; do
    if [[ $word =~ ^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$ ]]; then
      argv+=("${vars[${BASH_REMATCH[1]}]:-}")
    elif [[ $word =~ ^\$([A-Za-z_][A-Za-z0-9_]*)$ ]]; then
      name=${BASH_REMATCH[1]}
      # shellcheck disable=SC2206 # systemd splits $VAR at whitespace
      argv+=(${vars[$name]:-})
    else
      argv+=("$word")
    fi
  done
  argv+=("$@")
  echo "runuser -u $user -- ${argv[*]}" >"$log"
  local envs=(PATH="$SYS_PATH" HOME="/var/lib/$state" LANG=C.UTF-8)
  for name in "${!vars[@]}"; do envs+=("$name=${vars[$name]}"); done
  # A service gets only its unit's environment, not this shell's.
  if [ $# -gt 0 ]; then
    (cd / && exec runuser -u "$user" -g "$group" -- env -i "${envs[@]}" "${argv[@]}") >>"$log" 2>&1
    return
  fi
  (cd / && exec runuser -u "$user" -g "$group" -- env -i "${envs[@]}" "${argv[@]}") >>"$log" 2>&1 &
  pids+=($!)
  last_pid=$!
}

# The control plane on a free port, set in /etc/default/openir as an admin would.
cp_port=$(free_port)
cat >>/etc/default/openir <<EOF
OPENIR_CONTROL_PLANE_OPTIONS=--host 127.0.0.1 --port $cp_port
OPENIR_SERVE_OPTIONS=--web-port 0
EOF
start_unit openir-control-plane.service "$work/control-plane.log"
cp_pid=$last_pid
for _ in $(seq 1 100); do
  grep -q "listening at" "$work/control-plane.log" && break
  kill -0 "$cp_pid" 2>/dev/null || fail "the control plane exited"
  sleep 0.2
done
[ "$(stat -c %U /var/lib/openir-control-plane/control-plane.db)" = openir-cp ] ||
  fail "the control plane's database is not owned by openir-cp"
pgrep -u openir-cp -f /usr/lib/openir/node/bin/node >/dev/null || fail "no node process runs as openir-cp"

# Root's admin command goes through the service's API: no root-owned file appears in its data directory.
created=$(/usr/bin/openir-control-plane ir create ci-ir --json) || fail "openir-control-plane ir create"
[ -z "$(find /var/lib/openir-control-plane -user root)" ] || fail "root-owned files in /var/lib/openir-control-plane"
install -m 0640 -g openir /dev/null /etc/openir/auth-key
echo "$created" | json 'v.key1' >/etc/openir/auth-key

# The node, registered from the environment on its first start (first checked
# by `openir serve --check` with the same settings, as an admin would).
cat >>/etc/default/openir <<EOF
OPENIR_AUTH_KEY_FILE=/etc/openir/auth-key
OPENIR_NODE_NAME=ci-node
EOF
start_unit openir.service "$work/node-check.log" --check || fail "openir serve --check"
grep -q ci-node "$work/node-check.log" || fail "openir serve --check did not name the node it would register"
t_start=$(date +%s.%N)
start_unit openir.service "$work/node.log"
node_pid=$last_pid
wait_online() {
  local status=''
  for _ in $(seq 1 150); do
    kill -0 "$node_pid" 2>/dev/null || fail "the node exited"
    status=$(/usr/bin/openir status --json 2>/dev/null | json 'v.status' 2>/dev/null || true)
    [ "$status" = Online ] && return 0
    sleep 0.2
  done
  fail "the node is not Online (status: ${status:-none})"
}
wait_online
t1=$(date +%s.%N)
online_s=$("$NODE" -e "console.log((${t1} - ${t0}).toFixed(1))")
start_s=$("$NODE" -e "console.log((${t1} - ${t_start}).toFixed(1))")
pgrep -u openir -f /usr/lib/openir/node/bin/node >/dev/null || fail "no node process runs as openir"
[ -z "$(find /var/lib/openir -user root)" ] || fail "root-owned files in /var/lib/openir"
node_id=$(/usr/bin/openir status --json | json 'v.node.id')
step "node $node_id Online as openir, ${online_s} s after dpkg -i began (dpkg -i ${dpkg_s} s, service start to Online ${start_s} s)"

# The admin group reaches the socket and ui-url; another user does neither.
userdel ci-openir-admin 2>/dev/null || true
useradd --system --no-create-home -G openir ci-openir-admin
runuser -u ci-openir-admin -- /usr/bin/openir status --json | json 'v.status' | grep -qx Online ||
  fail "a member of the openir group cannot use the CLI"
if runuser -u nobody -- /usr/bin/openir status >"$work/nobody.log" 2>&1; then fail "nobody reached the socket"; fi
url=$(runuser -u ci-openir-admin -- /usr/bin/openir ui-url) || fail "openir ui-url"
first=$(curl -s -o /dev/null -w '%{http_code}' "$url")
again=$(curl -s -o /dev/null -w '%{http_code}' "$url")
[ "$first" = 303 ] && [ "$again" = 401 ] || fail "ui-url link answered $first then $again (want 303 then 401)"
if runuser -u nobody -- /usr/bin/openir ui-url >/dev/null 2>&1; then fail "nobody got a ui-url link"; fi
if grep -q 'token=' "$work/node.log"; then fail "the node's output (the journal) holds a web UI token"; fi
step "the openir group reaches the socket and ui-url (one-time link: $first, then $again); others do not"

# Restart: the same node, no second registration.
kill "$(cat /var/lib/openir/run/host.pid)"
wait "$node_pid" 2>/dev/null || true
start_unit openir.service "$work/node-restart.log"
node_pid=$last_pid
for _ in $(seq 1 100); do /usr/bin/openir status >/dev/null 2>&1 && break; sleep 0.2; done
wait_online
[ "$(/usr/bin/openir status --json | json 'v.node.id')" = "$node_id" ] || fail "another node after the restart"
nodes=$(/usr/bin/openir-control-plane ir nodes ci-ir --json | json 'v.nodes.length')
[ "$nodes" = 1 ] || fail "the control plane holds $nodes nodes after the restart"
step "after a restart: the same node $node_id, 1 node on the control plane"

kill "$(cat /var/lib/openir/run/host.pid)" "$cp_pid" 2>/dev/null || true
wait 2>/dev/null || true
pids=()

dpkg -r openir >/dev/null 2>&1 || fail "dpkg -r"
[ ! -e /usr/bin/openir ] || fail "dpkg -r left /usr/bin/openir"
[ -f /var/lib/openir/config.json ] && [ -f /var/lib/openir-control-plane/control-plane.db ] ||
  fail "dpkg -r did not keep the data"
[ -f /etc/default/openir ] || fail "dpkg -r did not keep the conffile"
dpkg -P openir >/dev/null 2>&1 || fail "dpkg -P"
[ ! -e /var/lib/openir ] && [ ! -e /var/lib/openir-control-plane ] || fail "dpkg -P left the data"
! getent passwd openir >/dev/null && ! getent passwd openir-cp >/dev/null || fail "dpkg -P left the users"
[ ! -e /etc/default/openir ] || fail "dpkg -P left /etc/default/openir"
step "dpkg -r keeps /var/lib/openir*, dpkg -P removes it, the users and the conffile"

printf '\n| package | size | dpkg -i | service start to Online | dpkg -i to Online |\n| --- | --- | --- | --- | --- |\n| %s | %s | %s s | %s s | %s s |\n' \
  "$(basename "$deb")" "$size" "$dpkg_s" "$start_s" "$online_s"
