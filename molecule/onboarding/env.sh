# The inputs of molecule/onboarding, for running it by hand (sourced, not run), after `. scripts/env.sh`:
#   . molecule/onboarding/env.sh && molecule test -s onboarding
# Values already in the environment are kept. Builds what is missing under build/molecule-onboarding:
#   ONBOARD_DEB            a .deb of the agent stand-in (package "azcmagent"), which the onboard role installs
#   ONBOARD_APT_DEBS       python3-apt and its dependencies from Debian (Ansible's apt module needs them; the
#                          container has no mirror)
#   ONBOARD_SECRET         the service principal secret, a fresh random one holding quotes and a dollar sign
#   ONBOARD_SECRET_SHA256  its SHA-256: the stand-in's Azure knows the service principal by it (no file holds it)
: "${ROOT:?. scripts/env.sh first}"
__onboard_work=$ROOT/build/molecule-onboarding
mkdir -p "$__onboard_work/apt-debs"
if [ -z "${ONBOARD_APT_DEBS:-}" ]; then
  if ! ls "$__onboard_work/apt-debs"/python3-apt_*.deb >/dev/null 2>&1; then
    (cd "$__onboard_work/apt-debs" && apt-get download python3-apt python-apt-common distro-info-data >/dev/null)
  fi
  ONBOARD_APT_DEBS=$__onboard_work/apt-debs
fi
if [ -z "${ONBOARD_DEB:-}" ]; then
  rm -f "$__onboard_work"/azcmagent_*.deb
  ONBOARD_DEB=$(bash "$ROOT/tests/lib/build_standin_deb.sh" "$__onboard_work")
fi
if [ -z "${ONBOARD_SECRET:-}" ]; then
  ONBOARD_SECRET="molecule-$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')'\"\$x"
fi
ONBOARD_SECRET_SHA256=$(printf '%s' "$ONBOARD_SECRET" | sha256sum | cut -d' ' -f1)
export ONBOARD_DEB ONBOARD_SECRET ONBOARD_SECRET_SHA256 ONBOARD_APT_DEBS
unset __onboard_work
