"""Shared set-up of the hostile logic tests (promises 2, 3, 4, 5 and 7 of docs/security.md).

The import paths come from tests/conftest.py.
"""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

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
