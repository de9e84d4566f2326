#!/bin/sh
# /usr/bin/openir-control-plane: the OpenIR reference control plane on the Node
# 24 runtime shipped in the package. Unless told another data directory, it
# uses the openir-control-plane.service data in /var/lib/openir-control-plane:
# admin commands find the running service's API and its instance-admin token
# there (they never open the database). `serve` run by hand as root drops to
# the service user, so no file in that directory (SQLite's -wal and -shm)
# ends up owned by root; admin commands stay root, so `diagnostics get` writes
# where root can.
if [ -z "${OPENIR_CONTROL_PLANE_HOME:-}" ]; then
  OPENIR_CONTROL_PLANE_HOME=/var/lib/openir-control-plane
  export OPENIR_CONTROL_PLANE_HOME
  if [ "${1:-}" = serve ] && [ "$(/usr/bin/id -u)" = 0 ] && /usr/bin/id -u openir-cp >/dev/null 2>&1; then
    exec /sbin/runuser -u openir-cp -- /usr/lib/openir/node/bin/node /usr/lib/openir/app/bin/openir-control-plane.js "$@"
  fi
fi
exec /usr/lib/openir/node/bin/node /usr/lib/openir/app/bin/openir-control-plane.js "$@"
