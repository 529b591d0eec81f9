"""End-to-end tier: ansible-playbook, ansible-inventory, ansible-rulebook, molecule and the execution environment
against the built collection. The fixtures live with their harnesses in tests/lib."""

# pylint: disable=unused-import
from tests.lib.azure_env import fake  # noqa: F401
from tests.lib.harness import target  # noqa: F401
from tests.lib.windows_env import endpoint, host, win  # noqa: F401
