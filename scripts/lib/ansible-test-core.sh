# ansible-test sanity and units (and, if asked, the integration smoke) on one ansible-core (sourced, not run).
#   ansible_test_core CORE PYTHON [smoke]
# The core's virtual environment is build/venvs/<python>-core-CORE; the tree build/ansible-test/CORE is a git
# repository of the tracked files (ansible-test wants one). Sets status=1 on a failure.
# The tree for CORE: made here from the worktree's tracked files, or already made (ANSIBLE_TEST_TREES_READY=1:
# inside a container, where the worktree's git metadata is out of reach).
ansible_test_tree() {
  local work=$ROOT/build/ansible-test/$1/ansible_collections/arcguard/azcmagent
  if [ "${ANSIBLE_TEST_TREES_READY:-}" != 1 ]; then
    rm -rf "$work"; mkdir -p "$work"
    (cd "$ROOT" && git ls-files -z | xargs -0 cp --parents -t "$work")
    (cd "$work" && git init -q && git add -A && git -c user.email=ci@localhost -c user.name=ci commit -qm tree)
  fi
  echo "$work"
}

ansible_test_core() {
  local core=$1 python=$2 smoke=${3:-}
  local venv=$ROOT/build/venvs/$(basename "$python")-core-$core
  if [ ! -x "$venv/bin/ansible-test" ]; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "ansible-core==$core"
  fi
  ansible_test_offline "$venv"
  local version
  version=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  local work
  work=$(ansible_test_tree "$core")
  echo "--- ansible-test sanity with ansible-core $core (Python $version)"
  if (cd "$work" && PATH=$venv/bin:$PATH ansible-test sanity --venv --python "$version" --color no); then
    echo "sanity $core: ok"
  else
    echo "sanity $core: FAILED"; status=1
  fi
  echo "--- ansible-test units with ansible-core $core (Python $version)"
  if (cd "$work" && PATH=$venv/bin:$PATH ansible-test units --venv --python "$version" --color no); then
    echo "units $core: ok"
  else
    echo "units $core: FAILED"; status=1
  fi
  if [ -n "$smoke" ]; then
    echo "--- integration smoke with ansible-core $core (Python $version)"
    if bash "$ROOT/scripts/lib/core-smoke.sh" "$venv" "$work"; then
      echo "smoke $core: ok"
    else
      echo "smoke $core: FAILED"; status=1
    fi
  fi
}
