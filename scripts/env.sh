# Environment shared by the demo and the test suites (sourced, not run).
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export ROOT
export VENV=$ROOT/.venv
export PATH=$VENV/bin:$PATH
# the collection as users get it: built tarball, installed (scripts/bootstrap.sh collection)
export ANSIBLE_COLLECTIONS_PATH=$ROOT/build/collections
export ANSIBLE_NOCOLOR=1
export ANSIBLE_FORCE_COLOR=0
export ANSIBLE_HOST_KEY_CHECKING=false
export ANSIBLE_RETRY_FILES_ENABLED=false
export CONTAINERS_CONF=$ROOT/tests/containers.conf
# the source tree importable as ansible_collections.arcguard.azcmagent for unit tests
SRC_COLLECTIONS=$ROOT/build/src-collections
if [ ! -e "$SRC_COLLECTIONS/ansible_collections/arcguard/azcmagent" ]; then
  mkdir -p "$SRC_COLLECTIONS/ansible_collections/arcguard"
  ln -sfn "$ROOT" "$SRC_COLLECTIONS/ansible_collections/arcguard/azcmagent"
fi
export SRC_COLLECTIONS
