"""Start and stop the WinRM test endpoint for tests."""

import os
import secrets
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENDPOINT = os.path.join(ROOT, "tests", "lib", "winrm_endpoint.py")
STANDIN = os.path.join(ROOT, "roles", "emulator", "files", "azcmagent_standin")


class Endpoint:
    def __init__(self, root, no_agent=False, agent_command=None):
        self.root = str(root)
        self.user = "arcadmin"
        self.password = "P@ss 'w0rd\"" + secrets.token_hex(4)
        cmd = [sys.executable, ENDPOINT, "--listen", "127.0.0.1:0", "--user", self.user, "--password", self.password,
               "--azcmagent", agent_command or "%s %s" % (sys.executable, STANDIN), "--root", self.root]
        if no_agent:
            cmd.append("--no-agent")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on"):
            raise RuntimeError("endpoint did not start: %s %s" % (line, self.proc.stderr.read()))
        self.port = int(line.split()[2].rsplit(":", 1)[1])

    def host_vars(self):
        return {"ansible_connection": "winrm", "ansible_host": "127.0.0.1", "ansible_port": self.port,
                "ansible_user": self.user, "ansible_password": self.password, "ansible_winrm_transport": "basic",
                "ansible_winrm_scheme": "http", "ansible_winrm_server_cert_validation": "ignore"}

    def agent_path(self):
        return os.path.join(self.root, "Program Files", "AzureConnectedMachineAgent", "azcmagent.exe")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
