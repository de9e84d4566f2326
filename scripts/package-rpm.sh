#!/usr/bin/env bash
# The .rpm of the same staged tree as the .deb (called by package-linux.sh when
# rpmbuild is installed; Debian's `rpm` package has it). Same files, users and
# units; the scriptlets are the rpm equivalents of packaging/linux's maintainer scripts.
#   scripts/package-rpm.sh <staged root> <version> <output dir>
set -euo pipefail
root=$1 version=$2 out=$3
top=$(mktemp -d)
trap 'rm -rf "$top"' EXIT
files=$(cd "$root" && find . -path ./DEBIAN -prune -o \( -type f -o -type l \) -print | sed 's|^\.||' |
  grep -v '^/etc/default/openir$' | LC_ALL=C sort)
cat >"$top/openir.spec" <<SPEC
Name: openir
Version: $version
Release: 1
Summary: Self-hosted integration runtime node and control plane
License: MIT
URL: https://github.com/openir/openir
BuildArch: x86_64
# The bundled Node and native modules need only glibc and libstdc++.
AutoReqProv: no
Requires: glibc, libstdc++, shadow-utils, util-linux
%global debug_package %{nil}
%global __os_install_post %{nil}
%global _build_id_links none
# xz level 1, as for the .deb (the default level takes minutes on the Node binary).
%global _binary_payload w1.xzdio

%description
The headless OpenIR node (openir.service, the openir CLI and its web UI on
127.0.0.1) and the reference control plane (openir-control-plane.service),
with their own Node.js 24 runtime.

%install
mkdir -p %{buildroot}
(cd $root && tar cf - --exclude=./DEBIAN .) | (cd %{buildroot} && tar xf -)

%pre
for u in openir openir-cp; do
  getent group \$u >/dev/null || groupadd -r \$u
  getent passwd \$u >/dev/null || useradd -r -g \$u -d /var/lib/\$( [ \$u = openir ] && echo openir || echo openir-control-plane ) -M -s /sbin/nologin \$u
done

%post
chgrp openir /etc/openir && chmod 0750 /etc/openir
systemctl daemon-reload >/dev/null 2>&1 || :
if [ \$1 -eq 1 ]; then systemctl enable --now openir.service >/dev/null 2>&1 || :; fi
if [ \$1 -gt 1 ]; then systemctl try-restart openir.service openir-control-plane.service >/dev/null 2>&1 || :; fi

%preun
if [ \$1 -eq 0 ]; then
  systemctl disable --now openir.service openir-control-plane.service >/dev/null 2>&1 || :
fi

%postun
systemctl daemon-reload >/dev/null 2>&1 || :
# rpm has no purge: /var/lib/openir* and the users stay (remove them by hand).

%files
%config(noreplace) /etc/default/openir
%dir /etc/openir
$files
SPEC
rpmbuild -bb --quiet --define "_topdir $top" --define "_rpmdir $top/out" "$top/openir.spec" >"$top/build.log" 2>&1 || {
  cat "$top/build.log" >&2
  exit 1
}
rpm=$(find "$top/out" -name '*.rpm' | head -n 1)
cp "$rpm" "$out/"
echo "$out/$(basename "$rpm") $(du -h "$rpm" | cut -f1)"
