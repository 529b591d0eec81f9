"""Shared set-up of the hostile logic tests (promises 2, 3, 4, 5 and 7 of docs/security.md).

Importing it puts the source tree on ``sys.path`` as ``ansible_collections.arcguard.azcmagent`` (as
tests/unit does) and the repository root (for ``tests.lib`` and ``tests.integration``).
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "build", "src-collections")
_LINK = os.path.join(SRC, "ansible_collections", "arcguard", "azcmagent")
if not os.path.exists(_LINK):
    os.makedirs(os.path.dirname(_LINK), exist_ok=True)
    os.symlink(ROOT, _LINK)
for _path in (SRC, ROOT):
    if _path not in sys.path:
        sys.path.insert(0, _path)

# bounded example counts: these suites run on shared machines (HOSTILE_EXAMPLES raises them)
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "0") or 0)


def examples(default):
    return EXAMPLES or default


def scratch():
    """A scratch directory for hosts made inside hypothesis examples (below pytest's basetemp when there is one)."""
    base = os.environ.get("HOSTILE_SCRATCH") or os.path.join(ROOT, "build", "hostile-scratch")
    os.makedirs(base, exist_ok=True)
    return base


# ------------------------------------------------------------------ running the action on real stand-ins

def target_class():
    """The project's stand-in target (tests/lib/actions.py: real /bin/sh, or the WinRM endpoint's PowerShell
    interpreter), with snapshots of the host's whole file system."""
    import shutil

    from tests.lib.actions import Target

    class SnapshotTarget(Target):
        def snapshot(self):
            saved = self.root + ".saved"
            shutil.rmtree(saved, ignore_errors=True)
            shutil.copytree(self.root, saved, symlinks=True)
            return saved

        def restore(self, saved):
            shutil.rmtree(self.root)
            shutil.copytree(saved, self.root, symlinks=True)

        def files(self):
            """Every file and folder below the host's root, with contents (the stand-in's logs left out)."""
            out = {}
            for base, dirs, names in os.walk(self.root):
                for name in names:
                    if name.startswith(("standin-invocations", "standin-services", ".standin")):
                        continue
                    path = os.path.join(base, name)
                    with open(path, "rb") as handle:
                        out[os.path.relpath(path, self.root)] = handle.read()
                for name in dirs:
                    out[os.path.relpath(os.path.join(base, name), self.root) + "/"] = b""
            return out

    return SnapshotTarget
