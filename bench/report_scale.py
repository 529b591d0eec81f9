"""How the audit report's build time grows with the fleet: 1,000 against 10,000 hosts, in one run.

    python bench/report_scale.py [--hosts 10000]

Synthetic host results (a third drifted, some unreachable, some with blocked extensions) are built into
the JSON, JUnit and HTML reports; times are medians of three runs. Linear scaling shows as a ratio near
10 between the two sizes.
"""

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "build", "src-collections"))
link = os.path.join(ROOT, "build", "src-collections", "ansible_collections", "arcguard", "azcmagent")
if not os.path.exists(link):
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(ROOT, link)

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _report as report  # noqa: E402


def fleet(size):
    hosts = {}
    for i in range(size):
        info = {"agent": {"installed": True, "version": "1.64.03414.2961", "status": "Connected"}, "errors": [],
                "blocked_installed": [{"name": "Microsoft.Azure.Extensions/CustomScript"}] if i % 17 == 0 else []}
        changes = [{"property": "guestconfiguration.enabled", "before": True, "after": False}] if i % 3 == 0 else []
        if i % 50 == 0:
            info = {"unreachable": True, "msg": "ssh: connect to host timed out"}
        hosts["host%05d.example.com" % i] = ("defender", info, {"changed": bool(changes), "changes": changes})
    return hosts


def timed(size):
    data = fleet(size)
    samples = []
    for _round in range(3):
        start = time.perf_counter()
        built = report.build(data, profile="defender")
        report.to_json(built)
        report.to_junit(built)
        report.to_html(built)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--hosts", type=int, default=10000)
    args = parser.parse_args()
    small = max(1, args.hosts // 10)
    t_small = timed(small)
    t_big = timed(args.hosts)
    print("%6d hosts: %.3f s" % (small, t_small))
    print("%6d hosts: %.3f s" % (args.hosts, t_big))
    print("ratio: %.1f for %dx the hosts (linear is %d)" % (t_big / t_small, args.hosts // small, args.hosts // small))


if __name__ == "__main__":
    main()
