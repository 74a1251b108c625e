#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r'''
module: hostgw_restore
short_description: Install the boot restore (and optional drift repair) that replays what hostgw applied
version_added: 0.2.0
description:
  - Saves the state the node modules applied (the RV(hostgw.network.cni_bridge#module:boot_state),
    RV(hostgw.network.hostgw_route#module:boot_state) and firewall results) as C(<state_dir>/restore.json) and
    installs the program that replays it, C(<state_dir>/restore/hostgw-restore), a copy of hostgw's own module_utils,
    run by the target's Python without Ansible.
  - The program behaves like the modules but only ever adds; it creates a missing bridge (marked as hostgw's), adds
    missing gateway addresses, adds missing routes and replaces hostgw's own routes (its protocol) in place, rewrites
    hostgw's own firewall chains and appends their jumps, and sets the forwarding sysctls. It never replaces or deletes
    a route, address, link or rule that hostgw does not own; such a conflict, and every other failure, is printed as
    one line naming it and makes the program exit non-zero (so C(systemctl is-failed) and the journal tell).
  - With O(unit_dir), writes the systemd unit C(hostgw-restore.service), ordered before C(kubelet.service),
    C(containerd.service), C(crio.service) and C(docker.service); with O(repair_interval), also
    C(hostgw-repair.service) and C(hostgw-repair.timer), which run the same program every interval (Flannel re-adds its
    routes every 10 s from a daemon; this is the daemon-less equivalent). Enabling the units is left to
    M(ansible.builtin.systemd_service), as the C(hostgw.network.hostgw) role does.
  - Every file written is recorded in O(manifest), so that M(hostgw.network.hostgw_files) with O(hostgw.network.hostgw_files#module:state=absent)
    removes exactly these.
author:
  - hostgw contributors (@hostgw)
extends_documentation_fragment:
  - hostgw.network.attributes
  - hostgw.network.attributes.diff_full
options:
  state_dir:
    description: Directory of the node's hostgw state. No whitespace, quotes, C($), C(%) or C(\).
    type: path
    default: /etc/hostgw
  bridge:
    description: The bridge to restore, as RV(hostgw.network.cni_bridge#module:boot_state) returns it (C(name), C(addresses), C(mtu)).
    type: dict
  routes:
    description: The routes to restore, as RV(hostgw.network.hostgw_route#module:boot_state) returns them (C(uplink), C(proto), C(routes)).
    type: dict
  firewall:
    description:
      - The firewall rules to restore, given as the options of M(hostgw.network.hostgw_firewall) (C(network), C(subnet),
        C(network6), C(subnet6), C(masquerade), C(forward_accept), C(random_fully)). Omit to restore none.
    type: dict
  sysctls:
    description: Sysctls to set at boot (only C(net.ipv4.ip_forward) and C(net.ipv6.conf.all.forwarding) are accepted).
    type: dict
    default: {}
  python:
    description: The interpreter that runs the program at boot. Default is the one running this module.
    type: path
  unit_dir:
    description: Where to write the systemd units (such as C(/etc/systemd/system)); omit on hosts without systemd.
    type: path
  repair_interval:
    description:
      - Run the program every interval from a systemd timer (a systemd time span such as V(30s) or V(5min)) to repair
        drift; empty (the default) for no timer. Needs O(unit_dir).
    type: str
    default: ''
  manifest:
    description: The manifest recording hostgw's files (see M(hostgw.network.hostgw_files)). Default C(<state_dir>/manifest.json).
    type: path
seealso:
  - module: hostgw.network.hostgw_files
  - module: hostgw.network.cni_bridge
  - module: hostgw.network.hostgw_route
'''

EXAMPLES = r'''
- name: Bridge with the pods' gateway
  hostgw.network.cni_bridge:
    bridge: cni0
    addresses: [10.244.1.1/24]
  become: true
  register: bridge

- name: Routes to the peers' pod subnets
  hostgw.network.hostgw_route:
    uplink: eth0
    routes:
      - {dest: 10.244.2.0/24, via: 10.168.0.2, host: node2}
  become: true
  register: routes

- name: Replay both at boot, before kubelet, and repair drift every 5 minutes
  hostgw.network.hostgw_restore:
    bridge: "{{ bridge.boot_state }}"
    routes: "{{ routes.boot_state }}"
    sysctls: {net.ipv4.ip_forward: 1}
    unit_dir: /etc/systemd/system
    repair_interval: 5min
  become: true
'''

RETURN = r'''
changed_files:
  description: Files written (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/hostgw/restore.json]
command:
  description: The boot program's command line (what C(ExecStart) runs).
  returned: always
  type: list
  elements: str
  sample: [/usr/bin/python3, /etc/hostgw/restore/hostgw-restore, /etc/hostgw/restore.json]
units:
  description: The systemd units written (empty without O(unit_dir)).
  returned: always
  type: list
  elements: str
  sample: [hostgw-restore.service]
'''

import sys  # noqa: E402  pylint: disable=wrong-import-position

from ansible.module_utils.basic import AnsibleModule  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.hostgw.network.plugins.module_utils import _boot_install  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.hostgw.network.plugins.module_utils import _files  # noqa: E402  pylint: disable=wrong-import-position


def main():
    module = AnsibleModule(argument_spec=_boot_install.ARGUMENT_SPEC, supports_check_mode=True)
    try:
        done = _boot_install.sync(module, module.params, sys.executable, module.check_mode)
    except (_boot_install.BootError, _files.FilesError) as e:
        module.fail_json(msg=str(e))
    diffs = done.pop('diffs')
    done.pop('boot_changed')
    result = dict(changed=bool(done['changed_files']), **done)
    if module._diff:
        result['diff'] = diffs
    module.exit_json(**result)


if __name__ == '__main__':
    main()
