#!/usr/bin/env bash
# Lock down a built-in demo fleet of stand-in agents and show what changed.
# Installs what it needs first (scripts/bootstrap.sh). No Azure, containers or Windows needed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/scripts/bootstrap.sh" python collection
# shellcheck source=scripts/env.sh
. "$ROOT/scripts/env.sh"
exec "$VENV/bin/python" "$ROOT/scripts/demo.py" "$@"
