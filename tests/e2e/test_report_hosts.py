"""azcmagent_report through ansible-playbook, with Ansible's own hostvars: names in ``hosts`` that are no
inventory host (a group name, a typo) are reported as hosts without results, never an internal error."""

import json

from tests.lib.playbook import run


def test_report_names_that_are_no_host(tmp_path):
    dest = tmp_path / "report"
    tasks = [{"name": "report", "run_once": True, "arcguard.azcmagent.azcmagent_report": {
        "dest": str(dest), "hosts": ["all", "web01", "no-such-host"], "formats": ["json", "xml", "html"]}}]
    out = run(tmp_path, tasks, hosts={"web01": {}})
    result = out.result("web01")
    assert not result.get("failed"), result
    assert result["errors"] == ["all", "no-such-host", "web01"], result   # web01 has no audit results either
    data = json.loads((dest / "report.json").read_text())
    assert sorted(data["hosts"]) == ["all", "no-such-host", "web01"]
    assert "TemplateContext" not in out.stdout + out.stderr
