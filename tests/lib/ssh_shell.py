"""The command side of the test SSH "Windows host": OpenSSH's sshd runs this as its ForceCommand.

    ForceCommand PYTHON tests/lib/ssh_shell.py --root DIR --azcmagent 'COMMAND' [--log FILE]

sshd puts the command the client asked for in $SSH_ORIGINAL_COMMAND. The only form accepted is the
one Ansible's ssh connection sends with `ansible_shell_type: powershell`:

    PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand B64

(B64 being base64 of UTF-16LE). The script is decoded and run by the WinRM test endpoint's
interpreter (tests/lib/winrm_endpoint.py: `decode_command`, `run_script`, `Host`), which
interprets only our runner's constructs, against the azcmagent stand-in in its Windows flavour.
Standard output, standard error and the exit code are passed through. Anything else (an
interactive login, a subsystem such as sftp, a POSIX command, another PowerShell form, a script
the interpreter does not accept) is refused with a message on stderr and exit code 1.

Standard input is read only when the script uses the variable `$input`: PowerShell reads it lazily,
and Ansible's ssh connection keeps standard input open (a pty) for commands without input data. The
exit code is passed as the process's exit status (0 to 255 on this POSIX sshd; ours are all smaller).

--log FILE appends one JSON line per command: the command as received, the decoded script, the
exit code, and why it was refused. Tests use it to check what Ansible sent.
"""

import argparse
import base64
import binascii
import json
import os
import shlex
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.lib.winrm_endpoint import PS_PARSER, Host, Refused, decode_command, run_script, walk  # noqa: E402

# What Ansible's powershell shell plugin sends (ansible-core 2.19: _common_args, then -EncodedCommand B64).
FORM = ["powershell", "-noprofile", "-noninteractive", "-executionpolicy", "unrestricted", "-encodedcommand"]


def parse(command):
    """The PowerShell script in an SSH command line, or Refused."""
    if not command.strip():
        raise Refused("no command: this test host takes only PowerShell -EncodedCommand commands, not a login shell")
    words = command.split()
    if words[0].lower() != "powershell":
        raise Refused("only PowerShell commands are accepted, got %r" % command[:80])
    if [w.lower() for w in words[:-1]] != FORM:
        raise Refused("only 'PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand "
                      "BASE64' is accepted, got %r" % command[:120])
    try:
        base64.b64decode(words[-1], validate=True)
        return decode_command(words[0], " ".join(words[1:]))
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Refused("the -EncodedCommand value is not base64 of UTF-16LE text: %s" % exc) from exc


def uses_input(script):
    """Whether the script reads standard input: a $input variable (not the text inside a string)."""
    tree = PS_PARSER.parse(script.encode("utf-8"))
    return any(node.type == "variable" and node.text.decode("utf-8", "replace").lower() == "$input"
               for node in walk(tree.root_node))


def main(argv=None, environ=None, stdin=None, stdout=None, stderr=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--root", required=True, help="the host's Windows file system (C:\\X is ROOT/X)")
    parser.add_argument("--azcmagent", required=True, help="command line that runs the azcmagent stand-in")
    parser.add_argument("--log", help="append a JSON line per command to this file")
    args = parser.parse_args(argv)
    environ = os.environ if environ is None else environ
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    stderr = stderr or sys.stderr.buffer

    command = environ.get("SSH_ORIGINAL_COMMAND", "")
    entry = {"command": command, "script": None, "rc": 1, "refused": None}
    try:
        script = parse(command)
    except Refused as exc:
        entry["refused"] = str(exc)
        stderr.write(("ssh test host refused the command: %s\r\n" % exc).encode("utf-8"))
        rc = 1
    else:
        entry["script"] = script
        data = stdin.read() if uses_input(script) else b""
        rc, out, err = run_script(Host(args.root, shlex.split(args.azcmagent)), script, data)
        refusals = [line for line in err.decode("utf-8", "replace").splitlines()
                    if line.startswith("winrm test endpoint refused the script: ")]
        if refusals:
            entry["refused"] = refusals[0]
        stdout.write(out)
        stderr.write(err)
    stdout.flush()
    stderr.flush()
    entry["rc"] = rc
    if args.log:
        with open(args.log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
