#!/usr/bin/env bash
# Build a .deb of the azcmagent stand-in (package "azcmagent", as Microsoft names the agent's package), for
# tests of installing the agent from a package: bash tests/lib/build_standin_deb.sh OUTDIR [VERSION]
# Prints the path of the package. It installs /opt/azcmagent/bin/azcmagent (a wrapper carrying the stand-in
# marker), /opt/azcmagent/lib/azcmagent_standin and /usr/bin/azcmagent; its postinst creates the
# control file /var/opt/azcmagent/standin.json of a freshly installed, disconnected agent unless one exists.
set -euo pipefail
out=${1:?usage: build_standin_deb.sh OUTDIR [VERSION]}
version=${2:-1.64.03414.2961}
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pkg=$work/azcmagent
mkdir -p "$pkg/DEBIAN" "$pkg/opt/azcmagent/bin" "$pkg/opt/azcmagent/lib" "$pkg/usr/bin"
install -D -m 0644 "$here/roles/emulator/files/azcmagent_standin/__main__.py" \
  "$pkg/opt/azcmagent/lib/azcmagent_standin/__main__.py"
cat > "$pkg/opt/azcmagent/bin/azcmagent" <<'WRAPPER'
#!/bin/sh
# ARCGUARD-AZCMAGENT-STANDIN: a test double of the Azure Connected Machine agent CLI, packaged for tests.
# Not the real agent. See the collection's docs/standin.md.
exec python3 /opt/azcmagent/lib/azcmagent_standin "$@"
WRAPPER
chmod 0755 "$pkg/opt/azcmagent/bin/azcmagent"
ln -s /opt/azcmagent/bin/azcmagent "$pkg/usr/bin/azcmagent"
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: azcmagent
Version: $version
Architecture: all
Maintainer: arcguard maintainers <arcguard@example.invalid>
Depends: python3
Section: admin
Priority: optional
Description: arcguard stand-in of the Azure Connected Machine agent (test double)
 Plays azcmagent as Microsoft documents it, for tests. Not the real agent.
CONTROL
cat > "$pkg/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
mkdir -p /var/opt/azcmagent/log
if [ ! -e /var/opt/azcmagent/standin.json ]; then
  printf '{"flavour": "linux", "connected": "Disconnected"}\n' > /var/opt/azcmagent/standin.json
fi
POSTINST
chmod 0755 "$pkg/DEBIAN/postinst"
mkdir -p "$out"
deb=$out/azcmagent_${version}_all.deb
dpkg-deb --root-owner-group --build "$pkg" "$deb" >/dev/null
echo "$deb"
