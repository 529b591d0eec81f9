# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is implemented by the action plugin of the same name (plugins/action/azcmagent_config.py):
# it runs on the controller and drives azcmagent through the connection, so targets need no Python.

DOCUMENTATION = r"""
module: azcmagent_config
short_description: Manage the local security settings of the Azure Connected Machine agent
version_added: 0.1.0
description:
  - Sets the local settings of the Azure Arc Connected Machine agent (C(azcmagent config)) to a desired state
    on Linux and Windows servers (the extension allowlist and blocklist, C(config.mode), guest configuration,
    the extension manager, incoming connections, the proxy and any other property).
  - These controls can only be changed by running C(azcmagent) on the server itself; Azure cannot change them.
  - Reads the agent's settings with one C(azcmagent config list --json), writes only the settings that differ,
    in an order the agent accepts (monitor mode is left before lists are edited), then reads the settings back
    and checks them. A converged host costs one remote command and one C(azcmagent) invocation.
  - Options that are left out are not touched.
  - Runs on the controller and needs no Python on the target. On Linux the commands run through C(/bin/sh) and
    honour C(become). On Windows they run through PowerShell over WinRM or SSH, as the connection's user
    (C(become) is not used there), and each command stays within the 8191 characters that WinRM passes intact;
    long values travel on standard input, and a plan with many writes runs as more than one command.
  - Needs root on Linux (use C(become)) and an elevated Administrator on Windows.
author:
  - arcguard maintainers (@arcguard)
options:
  mode:
    description:
      - The agent mode, C(config.mode).
      - V(monitor) applies Microsoft's managed allowlist of monitoring and security extensions and turns off guest
        configuration and remote connectivity. It cannot be combined with O(extensions_allowlist),
        O(extensions_blocklist), O(guestconfiguration_enabled) or O(incomingconnections_enabled); the task fails
        before anything is written.
      - When the agent is in monitor mode, lists can only change after leaving it, so give V(full) together with the
        lists. The module then leaves monitor mode first.
    type: str
    choices: [full, monitor]
  extensions_allowlist:
    description:
      - Extensions that may be installed (C(extensions.allowlist)). When an allowlist is set, nothing else may be
        installed. Each entry is a C(Publisher/Type) name, V(Allow/None), or a catalog alias that resolves to the
        right name for the target's OS (see the catalog in the collection's docs), for example
        V(azure_monitor_agent) or V(defender_endpoint).
      - V(Allow/None) blocks every extension while keeping the extension manager running (ESU-only servers); it
        cannot be combined with other entries.
      - An empty list clears the allowlist (with O(list_action=replace)). Entries are trimmed, duplicates dropped,
        and names compared case-insensitively.
      - A warning (a failure with O(strict)) is given for names not in the catalog, names of the other OS, and
        extensions that run arbitrary scripts. A malformed name is an error.
      - A name that Microsoft's documentation misspells (the Hybrid Runbook Worker's
        C(Microsoft.Compute/HybridWorkerForWindows) and C(Microsoft.Azure.Automation/HybridWorkerForLinux)) is
        written under the real name, with a warning. A name with a dot or a backslash where the slash belongs
        (C(Microsoft.Azure.Monitor.AzureMonitorLinuxAgent)) can never match an extension and is an error naming the
        C(Publisher/Type) it means, whatever O(strict) says; so is an unknown alias, naming the closest aliases.
      - A warning (a failure with O(strict)) is also given for each extension that Microsoft has deprecated or
        retired (the Log Analytics agent, the Qualys vulnerability assessment, the Dependency agent, the DSC
        extension), naming the date, Microsoft's replacement where it names one, and the source. With
        O(list_action=remove) none is given.
      - Aliases of extensions that do not exist on the target's OS (for example V(defender_sql) on Linux) are left
        out and reported in RV(notes); an allowlist left empty by that is an error.
    type: list
    elements: str
  extensions_blocklist:
    description:
      - Extensions that may not be installed (C(extensions.blocklist)). Same entry formats as
        O(extensions_allowlist), except V(Allow/None).
      - An extension in both lists is blocked.
    type: list
    elements: str
  list_action:
    description:
      - How the given list options combine with what the agent has.
      - V(replace) makes each given list exactly what is given.
      - V(add) adds the given items (C(azcmagent config set --add)); V(remove) removes them
        (C(azcmagent config set --remove)). Both leave other items alone.
    type: str
    choices: [replace, add, remove]
    default: replace
  guestconfiguration_enabled:
    description:
      - Whether guest configuration (Azure Policy machine configuration) may run, C(guestconfiguration.enabled).
    type: bool
  extensions_enabled:
    description:
      - Whether the extension manager runs, C(extensions.enabled).
      - Turning it off does not remove installed extensions; extensions that run as their own services keep running.
    type: bool
  incomingconnections_enabled:
    description:
      - Whether remote connections (SSH and Windows Admin Center through Azure) are accepted,
        C(incomingconnections.enabled).
    type: bool
  incomingconnections_ports:
    description:
      - Ports that remote connections may reach, C(incomingconnections.ports). An empty list clears it.
    type: list
    elements: int
  proxy_url:
    description:
      - The proxy server, C(proxy.url), as V(http://host:port). V("") clears it.
      - Credentials in the URL never appear in the task's output, diff, warnings or errors, and are passed to the
        target on standard input, not on a command line. The target itself removes them from the agent's output
        before it leaves the host (Ansible prints raw remote output at high verbosity), and tells only whether the
        agent's proxy has the same ones.
      - User names and passwords may hold any character except white space, control characters, C(/), C(?), C(#) and C(@),
        which must be percent-encoded.
      - Not a C(no_log) option (the host and port are shown); where Ansible itself prints task arguments
        (C(display_args_to_stdout), the junit callback), give the URL through a variable, for example from Ansible
        Vault. See the collection's C(docs/security.md).
    type: str
  proxy_bypass:
    description:
      - Traffic that bypasses the proxy, C(proxy.bypass), one or more of V(AAD), V(ARM), V(Arc), V(ArcData), V(AMA).
    type: list
    elements: str
  settings:
    description:
      - Any other property by its azcmagent name, for example C(extensions.agent.cpulimit) set to V(10).
      - A value of V(null) resets the property to its default (C(azcmagent config clear)).
      - Unknown property names are an error. A property the installed agent does not support (older version) fails,
        naming the version that introduced it.
    type: dict
  strict:
    description:
      - Turn every warning into a failure, before anything is written.
    type: bool
    default: false
  timeout:
    default: 300
  wait_timeout:
    description:
      - Seconds to wait for the agent to be installed and answering before configuring it, for onboarding
        pipelines that configure right after installing. V(0) does not wait.
      - Waiting costs nothing on a host where the agent already answers.
    type: int
    default: 0
  profile:
    description:
      - Apply a named profile, one of the built-in profiles or of O(profiles). The profile's options apply, then
        O(overrides), then the options given in the task itself.
      - "Built-in profiles: V(ama_only), V(defender), V(defender_sql), V(monitoring_security), V(log_analytics),
        V(esu), V(essential_machine_management), V(monitor), V(block_scripts), V(extensions_off), V(defaults). They are OS-neutral: aliases resolve per
        target OS. The collection's docs/roles.md lists what each yields on Windows and on Linux."
      - "V(monitoring_security) and V(log_analytics) are legacy: they follow Microsoft's 2022 presets, which allow the
        Log Analytics agent (not supported after 2024-08-31; Microsoft's replacement is the Azure Monitor Agent) and,
        in V(monitoring_security), the Qualys vulnerability assessment (deprecated as of 2024-05-01). They are kept
        under their names for fidelity and warn like any task allowing those extensions. The current presets are
        V(defender) and V(ama_only)."
      - This is how the C(arcguard.azcmagent.lockdown) role applies its profiles.
    type: str
  profiles:
    description:
      - Your own profiles by name, each a dictionary with C(description) and C(options) (options of this module,
        except O(executable), O(strict), O(wait_timeout) and the profile options). They are merged with the
        built-in ones; yours win on a name clash.
    type: dict
  overrides:
    description:
      - Options of this module merged over the profile's. Needs O(profile).
    type: dict
  allow_empty_allowlist:
    description:
      - An empty allowlist allows every extension. Without this option, a task that would leave the agent with an
        empty allowlist where it had one in force (a non-empty allowlist, V(Allow/None), or monitor mode's managed
        list) fails before anything is written, unless the task asks for it in so many words
        (O(extensions_allowlist=[]) with O(list_action=replace), or O(settings) with C(extensions.allowlist) set to
        V(null)). That covers O(list_action=remove) taking out the last entries, aliases none of which exist on
        the host's OS, and leaving monitor mode without a list to replace Microsoft's (give O(extensions_allowlist)
        or O(extensions_blocklist), or turn the extension manager off).
      - Also refused without it, for the same reason - the agent would end up less locked down than the task
        says - a O(list_action=remove) that leaves both lists empty, and a blocklist of aliases none of which exist
        on the host's OS that would clear the blocklist in force.
      - V(true) accepts all of these. Check mode refuses exactly what the run refuses.
    type: bool
    default: false
  remove_blocked:
    description:
      - Also remove the installed extensions that the allowlist and blocklist in force after this task's writes
        block. Setting a list never removes what is already installed; this does, the documented local way.
      - The first remote command then also lists the installed extension folders (see O(extensions_path)); a host
        with nothing to remove still costs one remote command and one C(azcmagent) invocation.
      - When something is to be removed, the remote command that applies the settings then stops the extension
        service (Linux C(systemctl stop extd), or C(service extd stop) where there is no C(systemctl); Windows
        C(Stop-Service -Name ExtensionService)), runs C(azcmagent extension remove --name Publisher.Type) for each
        blocked extension, and always starts the service again, even when a removal failed. It then reads the
        settings and the folders back to check the extensions are gone.
      - On Linux the service commands run with the C(PATH) of the task's C(environment), when it sets one (it
        decides which C(systemctl) runs). No other variable of the environment is passed.
      - Needs azcmagent 1.39 or later (the C(extension) command); an older agent fails before anything is written
        when there is something to remove.
      - In monitor mode Microsoft's managed allowlist applies, whose contents are not published, so nothing is
        removed (a note says so). The stored blocklist does not apply in monitor mode either.
      - In check mode, RV(removed_extensions) lists what would be removed and nothing is.
    type: bool
    default: false
extends_documentation_fragment:
  - arcguard.azcmagent.azcmagent
  - arcguard.azcmagent.azcmagent.attributes
attributes:
  check_mode:
    support: full
    description: Reads the settings and reports the planned commands without running them.
  diff_mode:
    support: full
    description: Shows the managed settings before and after.
  idempotent:
    support: full
    description: A second run with the same options reports no change and runs no write.
notes:
  - A converged host costs one remote command and one C(azcmagent) invocation. A drifted host costs one more remote
    command that applies every write and reads the result back. Leaving monitor mode while also managing lists costs
    one more, because what the agent shows for the lists in monitor mode may not be what it has stored.
  - Setting lists never removes extensions that are already installed; O(remove_blocked) removes those the lists
    block.
  - Anyone who is root or Administrator on the server, and any extension or guest configuration policy, can change
    these settings again. Prefer allowlists, never allow Custom Script or Run Command, and disable guest configuration
    on locked-down servers.
seealso:
  - module: arcguard.azcmagent.azcmagent_info
  - name: azcmagent config reference
    description: Microsoft's documentation of the azcmagent config command.
    link: https://learn.microsoft.com/azure/azure-arc/servers/azcmagent-config
  - name: Extension allowlists and blocklists
    description: Microsoft's documentation of the local security controls.
    link: https://learn.microsoft.com/azure/azure-arc/servers/security-extensions
"""

EXAMPLES = r"""
- name: Allow only the Azure Monitor Agent and turn guest configuration off
  arcguard.azcmagent.azcmagent_config:
    mode: full
    extensions_allowlist:
      - azure_monitor_agent
    guestconfiguration_enabled: false
  become: true

- name: ESU-only server - nothing may be installed
  arcguard.azcmagent.azcmagent_config:
    extensions_allowlist:
      - Allow/None

- name: Block the script runners (the documentation's list, pasted as one string)
  arcguard.azcmagent.azcmagent_config:
    extensions_blocklist: >-
      Microsoft.Cplat.Core/RunCommandHandlerWindows, Microsoft.Cplat.Core/RunCommandHandlerLinux,
      Microsoft.Compute/CustomScriptExtension, Microsoft.Azure.Extensions/CustomScript,
      Microsoft.Azure.Automation.HybridWorker/HybridWorkerForWindows,
      Microsoft.Azure.Automation.HybridWorker/HybridWorkerForLinux

- name: Add Defender for Endpoint to whatever the allowlist has
  arcguard.azcmagent.azcmagent_config:
    extensions_allowlist: [defender_endpoint]
    list_action: add

- name: Proxy with credentials, and a CPU limit for extensions
  arcguard.azcmagent.azcmagent_config:
    proxy_url: "http://svc-arc:{{ vault_proxy_password }}@proxy.example.com:3128"
    proxy_bypass: [ARM, AAD]
    settings:
      extensions.agent.cpulimit: 10

- name: Monitor mode (Microsoft-managed allowlist)
  arcguard.azcmagent.azcmagent_config:
    mode: monitor

- name: Allow only the Azure Monitor Agent, and remove the installed extensions that this blocks
  arcguard.azcmagent.azcmagent_config:
    extensions_allowlist: [azure_monitor_agent]
    remove_blocked: true
  become: true
  register: arc

- name: Configure right after installing the agent in an onboarding pipeline
  arcguard.azcmagent.azcmagent_config:
    extensions_allowlist: [azure_monitor_agent]
    wait_timeout: 300
"""

RETURN = r"""
changed:
  description: Whether any setting was written.
  returned: always
  type: bool
os:
  description: The target's OS family, from the connection's shell.
  returned: always
  type: str
  choices: [linux, windows]
  sample: linux
executable:
  description: The azcmagent that was run.
  returned: when the agent was found
  type: str
  sample: /opt/azcmagent/bin/azcmagent
config:
  description:
    - The agent's local settings after the run, by azcmagent property name (lists as lists, booleans as booleans).
    - In check mode, the settings as they are.
    - Credentials in C(proxy.url) are replaced by C(********).
  returned: when the agent could be read
  type: dict
  sample:
    config.mode: full
    extensions.allowlist: [Microsoft.Azure.Monitor/AzureMonitorLinuxAgent]
    extensions.blocklist: []
    guestconfiguration.enabled: false
changes:
  description: The settings that were changed (or, in check mode, would be), in the order they were written.
  returned: always
  type: list
  elements: dict
  contains:
    property:
      description: The azcmagent property name.
      type: str
    before:
      description: The value before.
      type: raw
    after:
      description: The value after.
      type: raw
  sample:
    - property: extensions.allowlist
      before: []
      after: [Microsoft.Azure.Monitor/AzureMonitorLinuxAgent]
commands:
  description:
    - The azcmagent commands that were run to change settings or remove extensions, or in check mode would be run.
  returned: always
  type: list
  elements: str
  sample:
    - /opt/azcmagent/bin/azcmagent config set extensions.allowlist Microsoft.Azure.Monitor/AzureMonitorLinuxAgent
notes:
  description: Information that needs no action, such as aliases left out because they do not exist on the target's OS.
  returned: when there is any
  type: list
  elements: str
unknown_in_monitor_mode:
  description:
    - In check mode, for an agent in monitor mode that the task takes to full mode while managing the lists (or
      removing blocked extensions) - the properties whose stored values cannot be known before the agent has left
      monitor mode, because in monitor mode C(config list) may show Microsoft's managed values instead.
    - Check mode then predicts only what the task alone decides; RV(changes) holds no change whose end value depends
      on them, the diff marks them as unknown until the agent has left monitor mode, RV(removed_extensions) lists
      only the extensions blocked whatever the stored lists hold, and RV(notes) names the ones the run may also
      remove. The run itself leaves monitor mode, reads the stored values and plans from them.
  returned: in check mode, when the agent leaves monitor mode and the task depends on its stored lists
  type: list
  elements: str
  sample: [extensions.allowlist, extensions.blocklist]
repaired:
  description:
    - What this run repaired that an interrupted run had left, such as an extension service left stopped in the
      middle of removing extensions (found by its marker file in the extension folder); in check mode, what it
      would repair. Also given as a warning.
  returned: when something was repaired
  type: list
  elements: str
  sample:
    - the extension service extd had been left stopped by an interrupted run (its marker
      /var/lib/waagent/.arcguard-extension-service-stopped was there); it was started again
removed_extensions:
  description:
    - The installed extensions that were removed because the lists block them (in check mode, that would be
      removed), one entry per installed version.
  returned: when O(remove_blocked) is true
  type: list
  elements: dict
  contains:
    publisher:
      description: The publisher, as the extension's folder spells it.
      type: str
    type:
      description: The extension type, as the extension's folder spells it.
      type: str
    version:
      description: The installed version.
      type: str
  sample:
    - publisher: Microsoft.Azure.Extensions
      type: CustomScript
      version: 2.1.10
not_removed:
  description:
    - The blocked extensions that are still installed after a removal failed (same keys as RV(removed_extensions)).
  returned: when removing blocked extensions failed
  type: list
  elements: dict
failed_command:
  description: The command that failed, when a write (or a removal, or stopping or starting the extension service)
    failed.
  returned: when a write or a removal failed
  type: str
not_applied:
  description: The properties that were not written because a write failed.
  returned: when a write failed
  type: list
  elements: str
cmd:
  description: The failing command.
  returned: on failure of an azcmagent command
  type: str
  sample: /opt/azcmagent/bin/azcmagent config set extensions.allowlist Allow/None
rc:
  description: Exit code of the failing command (C(23) invalid arguments, C(18) not elevated, C(124) timed out).
  returned: on failure of an azcmagent command
  type: int
  sample: 23
stdout:
  description: Standard output of the failing command.
  returned: on failure of an azcmagent command
  type: str
stderr:
  description: Standard error of the failing command, with the agent's C(AZCM00NN) error.
  returned: on failure of an azcmagent command
  type: str
  sample: "AZCM0023: invalid arguments"
"""
