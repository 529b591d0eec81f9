"""The lockdown job inside the execution environment image: ansible-navigator, and ansible-runner's
transmit | worker | process streaming with the worker in the image or starting it (process isolation).

Hosts are stand-ins reached over OpenSSH on loopback; the suite (tests/suites/76-ee-image.sh) builds the
image first (scripts/ee.sh, cached).
"""

import os
import subprocess

import pytest

from tests.lib import ee_jobs as jobs
from tests.lib import sshfleet

pytestmark = [pytest.mark.ee, pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason="podman and sshd as root")]


def _image_present():
    return subprocess.run(["podman", "image", "exists", jobs.IMAGE], env=jobs.env(), check=False).returncode == 0


@pytest.fixture(scope="session", autouse=True)
def _requirements():
    missing = sshfleet.unavailable()
    assert missing is None, missing
    assert _image_present(), "%s is missing: bash scripts/ee.sh builds it" % jobs.IMAGE
    assert os.access(jobs.tool("ansible-navigator"), os.X_OK), "the navigator tool environment is missing"
    # ansible-navigator refuses to run podman without a POSIX message queue directory
    os.makedirs("/dev/mqueue", exist_ok=True)


@pytest.fixture
def hosts(tmp_path):
    f = jobs.Fleet(tmp_path / "fleet", ["web%02d" % i for i in range(3)])
    yield f
    f.stop()


def _defender(f):
    return {name: f.state(name) for name in f.names}


def test_navigator_check_apply_converged(tmp_path, hosts):
    """The fleet playbook in the image: check mode changes nothing, the run converges every drifted host,
    and the next run changes nothing at one azcmagent invocation per host."""
    hosts.drift()
    drifted = _defender(hosts)

    proc, doc = jobs.navigator(tmp_path, hosts, args=["--check", "--diff"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    results = jobs.artifact_results(doc)
    assert sorted(h for h, _c, _r in results) == hosts.names  # one result per host
    assert all(changed for _h, changed, _r in results)
    assert _defender(hosts) == drifted, "check mode changed a host"
    assert not any(hosts.writes(n) for n in hosts.names)

    hosts.clear_logs()
    proc, doc = jobs.navigator(tmp_path, hosts)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    results = jobs.artifact_results(doc)
    assert sorted(h for h, _c, _r in results) == hosts.names
    assert all(changed and status == "Ok" for _h, changed, status in results)
    for name in hosts.names:
        assert {k: hosts.state(name).get(k) for k in jobs.DEFENDER} == jobs.DEFENDER, name
        assert hosts.writes(name), name
    assert "changed=1" in proc.stdout and "failed=0" in proc.stdout

    hosts.clear_logs()
    proc, doc = jobs.navigator(tmp_path, hosts)
    assert proc.returncode == 0, proc.stdout[-3000:]
    results = jobs.artifact_results(doc)
    assert sorted(h for h, _c, _r in results) == hosts.names
    assert not any(changed for _h, changed, _r in results)
    for name in hosts.names:
        assert hosts.calls(name) == [["config", "list", "--json"]], name


def test_stream_worker_in_image(tmp_path, hosts):
    """transmit | worker (inside the image) | process: the events and artifacts the controller keeps;
    the machine credential travels with the job and is used through ssh-agent."""
    hosts.drift(hosts.names[:2])  # the third host is already converged
    data = jobs.private_data_dir(tmp_path / "job", hosts)
    run = jobs.stream(data, tmp_path / "out1")
    assert run.process_rc == 0, run.process_stdout[-3000:] + run.stderr[-2000:]
    events = run.host_events()
    assert sorted(events["runner_on_ok"]) == [(hosts.names[0], True), (hosts.names[1], True),
                                              (hosts.names[2], False)]
    assert not events.get("runner_on_failed") and not events.get("runner_on_unreachable")
    assert run.read("status").strip() == "successful" and run.read("rc").strip() == "0"
    assert "PLAY RECAP" in run.read("stdout")
    assert any(e["event"] == "playbook_on_stats" for e in run.events())
    for name in hosts.names:
        assert {k: hosts.state(name).get(k) for k in jobs.DEFENDER} == jobs.DEFENDER, name
    assert not hosts.writes(hosts.names[2])

    # the same job again: nothing to do, one azcmagent invocation per host
    hosts.clear_logs()
    run = jobs.stream(data, tmp_path / "out2")
    assert run.process_rc == 0, run.process_stdout[-3000:]
    assert sorted(run.host_events()["runner_on_ok"]) == [(n, False) for n in hosts.names]
    for name in hosts.names:
        assert hosts.calls(name) == [["config", "list", "--json"]], name


def test_stream_process_isolation(tmp_path, hosts):
    """The worker on the execution node starts the image for the job (process isolation), as
    Automation Platform's execution nodes do."""
    hosts.drift(hosts.names[1:])
    settings = {"process_isolation": True, "process_isolation_executable": "podman",
                "container_image": jobs.IMAGE,
                # as root here; a rootless execution node uses --userns=keep-id for the same: the job's files
                # (the machine credential among them) belong to the user the container runs as
                "container_options": ["--net=host", "--user=0"]}
    data = jobs.private_data_dir(tmp_path / "job", hosts, settings=settings)
    run = jobs.stream(data, tmp_path / "out", worker="isolated")
    assert run.process_rc == 0, run.process_stdout[-3000:] + run.stderr[-2000:]
    assert sorted(run.host_events()["runner_on_ok"]) == [(hosts.names[0], False), (hosts.names[1], True),
                                                         (hosts.names[2], True)]
    command = run.read("command")
    assert "podman" in command and jobs.IMAGE in command  # the job ran in the image, not on this machine
    assert run.read("status").strip() == "successful"


def _secret_job(tmp_path, hosts, verbosity):
    secret = "S3cr3t-pr0xy-pw"
    hosts.drift()
    jobs.fleet.write_control(hosts.roots[hosts.names[1]],
                             {"faults": {"fail_set": {"property": "guestconfiguration.enabled", "rc": 69}}})
    overrides = {"proxy_url": "http://arcsvc:%s@proxy.example.com:3128" % secret}
    data = jobs.private_data_dir(tmp_path / "job", hosts, extra_vars={"lockdown_overrides": overrides})
    run = jobs.stream(data, tmp_path / "out", verbosity=verbosity)
    assert run.process_rc == 0, run.stderr[-2000:]  # the stream itself worked
    assert hosts.state(hosts.names[0]).get("proxy.url") == overrides["proxy_url"]  # it was applied
    return secret, run


def _assert_nowhere(secret, run):
    assert secret.encode() not in run.stream
    for sub, _dirs, files in os.walk(run.artifacts):
        for name in files:
            with open(os.path.join(sub, name), "rb") as handle:
                assert secret.encode() not in handle.read(), os.path.join(sub, name)


def test_stream_failure_and_secret(tmp_path, hosts):
    """A host whose agent refuses a write fails alone (runner_on_failed for it, ok for the others, job
    failed); a proxy password given to the job never reaches the stream, the events or the stdout the
    controller stores."""
    secret, run = _secret_job(tmp_path, hosts, 0)
    assert run.read("rc").strip() == "2"  # ansible-playbook: a host failed
    events = run.host_events()
    assert [h for h, _c in events.get("runner_on_failed", [])] == [hosts.names[1]]
    assert sorted(h for h, _c in events["runner_on_ok"]) == [hosts.names[0], hosts.names[2]]
    assert run.read("status").strip() == "failed"
    _assert_nowhere(secret, run)


def test_stream_secret_at_vvvv(tmp_path, hosts):
    """The same job at -vvvv: the job events the controller stores must not carry the proxy password."""
    secret, run = _secret_job(tmp_path, hosts, 4)
    _assert_nowhere(secret, run)
