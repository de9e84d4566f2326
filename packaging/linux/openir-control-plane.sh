#!/bin/sh
# /usr/bin/openir-control-plane: the OpenIR reference control plane on the Node
# 24 runtime shipped in the package. Unless told another data directory, its
# admin commands work on the openir-control-plane.service database in
# /var/lib/openir-control-plane; run as root they drop to the service user, so
# no file in that directory (SQLite's -wal and -shm) ends up owned by root.
if [ -z "${OPENIR_CONTROL_PLANE_HOME:-}" ]; then
  OPENIR_CONTROL_PLANE_HOME=/var/lib/openir-control-plane
  export OPENIR_CONTROL_PLANE_HOME
  if [ "$(/usr/bin/id -u)" = 0 ] && /usr/bin/id -u openir-cp >/dev/null 2>&1; then
    exec /sbin/runuser -u openir-cp -- /usr/lib/openir/node/bin/node /usr/lib/openir/app/bin/openir-control-plane.js "$@"
  fi
fi
exec /usr/lib/openir/node/bin/node /usr/lib/openir/app/bin/openir-control-plane.js "$@"
