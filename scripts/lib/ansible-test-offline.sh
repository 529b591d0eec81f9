# Make ansible-test work without its pip bootstrap download (sourced, not run).
# ansible-test fetches get-pip-<version>.py from a host that may be unreachable; it uses
# ~/.ansible/test/cache/get_pip_<version>.py instead when that exists. Ours installs pip with
# ensurepip and then the packages ansible-test asks for, from the configured package index.
ansible_test_offline() {
  local venv=$1 version
  version=$("$venv/bin/python" - <<'PY'
import re, ansible_test, os
path = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
print(re.search(r"pip='([0-9.]+)'", open(path).read()).group(1))
PY
)
  local cache=$HOME/.ansible/test/cache
  mkdir -p "$cache"
  cat > "$cache/get_pip_${version//./_}.py" <<'PY'
"""Offline stand-in for get-pip.py used by ansible-test: ensurepip, then the requested packages."""
import ensurepip
import os
import subprocess
import sys

ensurepip.bootstrap()
# ensurepip points PIP_CONFIG_FILE at /dev/null, which would hide the machine's pip settings
os.environ.pop("PIP_CONFIG_FILE", None)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
if args:
    subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
PY
}
