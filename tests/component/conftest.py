"""Component tier: our code against the stand-in, /bin/sh, the WinRM test endpoint and the fake Azure, without
ansible-playbook. The fixtures live with their harnesses in tests/lib."""

# pylint: disable=unused-import
from tests.lib.azure_env import fake  # noqa: F401
from tests.lib.windows_env import endpoint, host, win  # noqa: F401
