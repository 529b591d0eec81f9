"""Where the drift watch tests find the source tree (ansible_collections.arcguard.azcmagent, linked by
scripts/env.sh) and the repository."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# scripts/env.sh links the source tree there (SRC_COLLECTIONS)
SRC = os.environ.get("SRC_COLLECTIONS") or os.path.join(ROOT, "build", "src-collections")
if not os.path.isdir(os.path.join(SRC, "ansible_collections", "arcguard", "azcmagent")):
    raise RuntimeError("%s does not hold the source tree: source scripts/env.sh first" % SRC)
for path in (SRC, ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)
