#!/bin/sh
# /usr/bin/openir: the OpenIR node CLI on the Node 24 runtime shipped in the
# package, so the machine needs no Node of its own (and its Node is never used).
# Unless OPENIR_HOME says otherwise, the CLI talks to the openir.service host in
# /var/lib/openir: root and members of the openir group reach its socket.
if [ -z "${OPENIR_HOME:-}" ]; then
  OPENIR_HOME=/var/lib/openir
  # The service owns this data directory: the CLI must not start a second host in it.
  OPENIR_HOST_SERVICE=openir
  export OPENIR_HOME OPENIR_HOST_SERVICE
fi
exec /usr/lib/openir/node/bin/node /usr/lib/openir/app/bin/openir.js "$@"
