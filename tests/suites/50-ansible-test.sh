#!/usr/bin/env bash
# ansible-test sanity and units on the oldest and the newest ansible-core we claim (meta/runtime.yml),
# each in its own virtual environment, on a copy of the tracked files. The unit tests also run under plain
# pytest (10-unit.sh); here ansible-test installs tests/unit/requirements.txt into its own environment.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
. "$ROOT/scripts/lib/ansible-test-offline.sh"
cd "$ROOT"
CORES=${SANITY_CORES:-"2.16.18 2.19.14"}
status=0
for core in $CORES; do
  venv=$ROOT/build/venvs/core-$core
  if [ ! -x "$venv/bin/ansible-test" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "ansible-core==$core"
  fi
  ansible_test_offline "$venv"
  work=$ROOT/build/ansible-test/$core/ansible_collections/arcguard/azcmagent
  rm -rf "$work"; mkdir -p "$work"
  git ls-files -z | xargs -0 cp --parents -t "$work"
  # ansible-test needs a git-less tree or a git repo: give it a repo of the tracked files
  (cd "$work" && git init -q && git add -A && git -c user.email=ci@localhost -c user.name=ci commit -qm tree)
  echo "--- ansible-test sanity with ansible-core $core"
  if (cd "$work" && PATH=$venv/bin:$PATH ansible-test sanity --venv --python 3.11 --color no); then
    echo "sanity $core: ok"
  else
    echo "sanity $core: FAILED"; status=1
  fi
  echo "--- ansible-test units with ansible-core $core"
  if (cd "$work" && PATH=$venv/bin:$PATH ansible-test units --venv --python 3.11 --color no); then
    echo "units $core: ok"
  else
    echo "units $core: FAILED"; status=1
  fi
done
exit $status
