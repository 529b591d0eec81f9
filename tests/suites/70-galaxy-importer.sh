#!/usr/bin/env bash
# The checks Galaxy runs on upload, with galaxy-importer, on the built artifact.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
. "$ROOT/scripts/lib/toolvenv.sh"
cd "$ROOT"
bin=$(toolvenv importer "galaxy-importer==0.4.44")
tarball=$(ls "$ROOT"/build/dist/arcguard-azcmagent-*.tar.gz)
out=$ROOT/build/galaxy-importer
rm -rf "$out"; mkdir -p "$out"
# the importer writes importer_result.json into its working directory: keep it out of the tree
(cd "$out" && GALAXY_IMPORTER_CONFIG=$ROOT/tests/galaxy-importer.cfg PATH=$bin:$PATH \
  "$bin/python" -m galaxy_importer.main "$tarball" --output-path "$out") 2>&1 | tee "$out/log.txt"
# the importer reports problems as ERROR lines (and exits non-zero on fatal ones)
if grep -E "^(ERROR|CRITICAL)|ImporterError" "$out/log.txt"; then
  echo "galaxy-importer: problems found"; exit 1
fi
echo "galaxy-importer: 1 passed, 0 failed"
