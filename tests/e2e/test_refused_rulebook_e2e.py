"""End to end: the real ansible-rulebook runs the collection's extension_refused rulebook against the fake Azure.

Azure tried to install the Custom Script extension on web01, whose lockdown forbids it, and the resource failed.
The arc_drift source sends one arc_extension_refused event; the rulebook runs notify_extension_refused, which posts
one message to a chat webhook (a loopback server here). Nothing runs the lockdown, nothing connects to web01, and
later polls of the same failure send nothing more. The status message Azure reports is data: a template in it
stays text.
"""

import http.server
import json
import threading

import pytest

from tests.lib import fakeazure
from tests.lib import rulebook
from tests.lib.rulebook import SECRET, SUB, wait_for

pytestmark = [pytest.mark.drift, pytest.mark.slow]

AMA = "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"
CSE = "Microsoft.Azure.Extensions/CustomScript"
POLICY = "/providers/Microsoft.Authorization/policyAssignments/dine-custom-script"
MESSAGE = "Extension blocked by the allowlist {{ 7 * 191 }}"


class _Chat(http.server.BaseHTTPRequestHandler):
    def log_message(self, format, *args):
        return

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.posts.append(json.loads(body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


def test_a_refused_install_reaches_the_chat_once_and_never_the_lockdown(tmp_path):
    rulebook.rulebook_bin()   # skips where the suite did not install ansible-rulebook
    chat = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Chat)
    chat.posts = []
    threading.Thread(target=chat.serve_forever, daemon=True).start()
    machines = [{"name": "web01", "subscription": SUB, "resource_group": "arc-prod", "os": "linux",
                 "status": "Connected", "config": {"extensions.allowlist": [AMA]},
                 "extensions": [{"name": "CustomScript", "publisher": "Microsoft.Azure.Extensions",
                                 "type": "CustomScript", "state": "Failed", "message": MESSAGE,
                                 "last_modified_by": POLICY},
                                {"name": "AzureMonitorLinuxAgent", "publisher": "Microsoft.Azure.Monitor",
                                 "type": "AzureMonitorLinuxAgent"}]}]
    (tmp_path / "azure").mkdir()
    state = {"tenant": fakeazure.TENANT, "identities": {"app1": {"secret": SECRET, "subscriptions": [SUB]}},
             "subscriptions": {SUB: {}}, "throttle": {"quota": 1000, "window": 5}, "machines": machines}
    with fakeazure.FakeAzure(state=state, workdir=str(tmp_path / "azure")) as fake:
        # web01 cannot be reached (a closed loopback port): a playbook that tried to connect to it would fail
        inventory = {"all": {"hosts": {"web01": {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_connection": "ssh",
                                                 "ansible_ssh_timeout": 2}}}}
        variables = rulebook.drift_vars(
            fake, extension_refused_webhook_url="http://127.0.0.1:%d/hook" % chat.server_address[1])
        with rulebook.running(tmp_path, fake, "arcguard.azcmagent.extension_refused", inventory, variables) as run:
            output, proc = run.output, run.proc
            assert wait_for(lambda: chat.posts or proc.poll() is not None, 120), output()
            wait_for(lambda: "PLAY RECAP" in output(), 60)
            polled = len(fake.graph_requests())
            # several more polls of the same failure
            assert wait_for(lambda: len(fake.graph_requests()) >= polled + 8 or proc.poll() is not None, 60), output()
            assert proc.poll() is None, output()
            text = output()
        chat.shutdown()
    assert len(chat.posts) == 1, (chat.posts, text)
    post = chat.posts[0]
    event = post["arc_extension_refused"]
    assert event["machine"] == "web01" and event["extension"] == CSE and event["requested_by"] == POLICY
    # data, never a template: the source breaks up the template opener, nothing evaluates it
    assert event["status_message"] == MESSAGE.replace("{{", "{ {")
    assert "1337" not in json.dumps(post)
    assert "web01" in post["text"] and CSE in post["text"] and POLICY in post["text"]
    assert "PLAY [Lock down" not in text
    assert text.count("PLAY [Report an extension install the Azure Arc lockdown refused]") == 1, text
    assert "UNREACHABLE" not in text
    assert SECRET not in text
