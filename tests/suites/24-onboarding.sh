#!/usr/bin/env bash
# Secure onboarding: azcmagent_connect and the onboard role. Unit tests of the show decision and of the
# argv and --config file on both shells, the stand-in's connect/disconnect/show, ansible-playbook runs on
# Linux stand-ins and over the WinRM test endpoint, then molecule/onboarding in podman: install from a .deb
# of the stand-in built here, lockdown before connect, second run without change, and the secret in no argv,
# no -vvvv output and no file of the container.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
python -m pytest -q -p no:cacheprovider -p no:warnings -n 2 tests/component tests/e2e \
  -m "onboarding and not hostile" "$@"

"$ROOT/scripts/bootstrap.sh" podman image
work=$ROOT/build/molecule-onboarding
mkdir -p "$work/apt-debs"
# what Ansible's apt module needs in the container, from Debian (cached)
if ! ls "$work/apt-debs"/python3-apt_*.deb >/dev/null 2>&1; then
  (cd "$work/apt-debs" && apt-get download python3-apt python-apt-common distro-info-data >/dev/null)
fi
rm -f "$work"/azcmagent_*.deb
ONBOARD_DEB=$(bash "$ROOT/tests/lib/build_standin_deb.sh" "$work")
ONBOARD_SECRET="molecule-$(python -c 'import secrets; print(secrets.token_urlsafe(24))')'\"\$x"
ONBOARD_SECRET_SHA256=$(printf '%s' "$ONBOARD_SECRET" | sha256sum | cut -d' ' -f1)
ONBOARD_APT_DEBS=$work/apt-debs
export ONBOARD_DEB ONBOARD_SECRET ONBOARD_SECRET_SHA256 ONBOARD_APT_DEBS
log=$work/molecule.log
status=0
molecule test -s onboarding --destroy never >"$log" 2>&1 || status=$?
tail -40 "$log"
if [ "$status" -eq 0 ]; then
  # the secret: in no argv the agent saw, in no output of the -vvvv run, in no file of the container
  if grep -qF -- "$ONBOARD_SECRET" "$log"; then echo "FAIL: the secret is in the molecule output"; status=1; fi
  if podman exec arcguard-onboard cat /var/opt/azcmagent/standin-invocations.log | grep -qF -- "$ONBOARD_SECRET"; then
    echo "FAIL: the secret is in an azcmagent argv"; status=1
  fi
  found=$(printf '%s\n' "$ONBOARD_SECRET" | podman exec -i arcguard-onboard sh -c \
    'IFS= read -r s; grep -rlsF -e "$s" / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev || true')
  if [ -n "$found" ]; then echo "FAIL: the secret is in files of the container: $found"; status=1; fi
  connects=$(podman exec arcguard-onboard grep -c '"argv": \["connect"' /var/opt/azcmagent/standin-invocations.log)
  if [ "$connects" != 1 ]; then echo "FAIL: expected one connect, got $connects"; status=1; fi
  [ "$status" -eq 0 ] && echo "onboarding: secret in no argv, no output, no file; one connect"
fi
molecule destroy -s onboarding >>"$log" 2>&1 || true
exit "$status"
