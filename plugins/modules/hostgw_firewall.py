#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r'''
module: hostgw_firewall
short_description: Masquerade pod egress and accept forwarded cluster traffic, in tables or chains hostgw owns
version_added: 0.3.0
description:
  - Does what Flannel's C(--ip-masq) does, with native nftables or with iptables (O(firewall)), for IPv4 and, with
    O(network6), IPv6.
  - "The rules, in order: return kube-proxy-marked packets (mark C(0x4000)), traffic from this node's pods to the
    cluster network, from the cluster network to this node's pods and from outside to this node's pods; masquerade
    cluster-network traffic leaving the cluster network (not multicast) and outside traffic entering the cluster
    network through this node (C(fully-random) / C(--random-fully) with O(random_fully)). Forwarded traffic from and
    to the cluster network is accepted, so a C(DROP) forward policy of the same backend does not cut pods off."
  - "nftables backend: tables C(ip hostgw) and C(ip6 hostgw), each with a C(postrouting) chain (C(type nat hook
    postrouting priority srcnat)) and a C(forward) chain (C(type filter hook forward priority filter)). All of
    hostgw's tables are replaced in one C(nft -f -) transaction: the ruleset either is applied whole or not at all.
    Other tables (kube-proxy, Docker's iptables-nft tables, firewalld) are never touched."
  - "iptables backend: chain C(HOSTGW-POSTRTG) in table C(nat), jumped to from C(POSTROUTING), and chain
    C(HOSTGW-FWD) in table C(filter), jumped to from C(FORWARD); the chains are written atomically per table with
    C(iptables-restore --noflush), the jump rules appended once (duplicates left by concurrent runs are removed).
    Foreign rules and their order are never touched."
  - Only hostgw's own state is written. hostgw's state in the backend not chosen (for example iptables chains of an
    earlier version on a host that now uses nftables) is removed, so packets are not handled twice.
  - Re-running changes nothing; rules altered behind hostgw's back are put back. O(state=absent) removes hostgw's
    tables, chains and jump rules of both backends, and nothing else.
  - The same code runs at boot without Ansible (C(converge()) in the collection's C(_firewall) module_utils), with
    RV(boot_state) as its input (give it to M(hostgw.network.hostgw_restore) as
    O(hostgw.network.hostgw_restore#module:firewall), as the C(hostgw.network.hostgw) role does).
  - This module was called C(hostgw.network.hostgw_masq) before 0.3.0; that name still works (it is redirected here)
    and is deprecated.
author:
  - hostgw contributors (@hostgw)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff shows hostgw's own tables (nftables), chains and jumps (iptables) and forwarding sysctls only.
  platform:
    platforms: posix
options:
  network:
    description: The IPv4 cluster network (Flannel C(Network)). Required with O(state=present).
    type: str
  subnet:
    description: This node's IPv4 pod subnet, inside O(network). Required with O(state=present).
    type: str
  network6:
    description: The IPv6 cluster network, for dual-stack. Without it, hostgw's IPv6 rules are removed.
    type: str
  subnet6:
    description: This node's IPv6 pod subnet, inside O(network6).
    type: str
  masquerade:
    description: Write the masquerade rules. With V(false) the nat chain is kept empty (only forward accepts remain).
    type: bool
    default: true
  forward_accept:
    description: Accept forwarded traffic from and to the cluster network.
    type: bool
    default: true
  random_fully:
    description: Masquerade with fully randomized source ports (nft C(fully-random), iptables C(--random-fully)), as Flannel does.
    type: bool
    default: true
  forwarding:
    description:
      - Ensure the kernel forwards packets (C(net.ipv4.ip_forward=1), and C(net.ipv6.conf.all.forwarding=1) when
        O(network6) is given), now. Persisting it across reboots is the role's job (C(/etc/sysctl.d)).
      - With V(false) forwarding is left as it is.
    type: bool
    default: false
  firewall:
    description:
      - Which backend holds hostgw's rules.
      - V(auto) picks V(nftables) when the C(nft) command exists and the C(iptables) command is iptables-nft
        (C(iptables -V) says C(nf_tables)) or does not exist; otherwise V(iptables) (legacy iptables, or iptables-nft
        without C(nft)). No package is ever installed.
      - V(nftables) needs C(nft); V(iptables) needs C(iptables) and C(iptables-restore) (C(ip6tables) and
        C(ip6tables-restore) for IPv6).
    type: str
    choices: [auto, nftables, iptables]
    default: auto
  save_dir:
    description:
      - Deprecated, to be removed in hostgw.network 1.0.0; nothing in hostgw reads these files. The boot restore
        replays RV(boot_state) (M(hostgw.network.hostgw_restore)).
      - Directory to keep a copy of the firewall state in. C(firewall.json) is these options (the spec the restore
        passes to the same code). C(rules.v4) (and C(rules.v6)), the C(iptables-restore --noflush) input of hostgw's
        chains, exist only while the backend is iptables, C(rules.nft) only while it is nftables; the other files are
        removed. Nothing is written when omitted.
    type: path
  vxlan_port:
    description:
      - With peers on other L2 segments (M(hostgw.network.hostgw_route) with
        O(hostgw.network.hostgw_route#module:cross_subnet=vxlan)), the UDP port of hostgw's VXLAN device. UDP to it is
        then dropped unless it comes from one of O(vxlan_sources), so that a host outside the mesh that sends a VXLAN packet
        to a node cannot put a packet into a pod network.
      - >-
        nftables backend, an C(input) chain in hostgw's table (C(udp dport 8472 ip saddr != { ... } drop)); iptables
        backend, the chain C(HOSTGW-VXLAN) (one C(RETURN) per source, then C(DROP)) and a jump from C(INPUT) for UDP to
        the port only, commented C(hostgw-vxlan). hostgw accepts nothing itself: another firewall that drops the port
        must allow it between the nodes (as with Flannel).
      - Omitted, there is no guard (and a guard made before is removed).
    type: int
  vxlan_sources:
    description:
      - The node IPs allowed to send to O(vxlan_port) (the mesh's, as the C(hostgw.network.hostgw) role passes them).
    type: list
    elements: str
  state:
    description: V(present) ensures the rules; V(absent) removes hostgw's tables, chains and jumps (both backends).
    type: str
    choices: [present, absent]
    default: present
requirements:
  - C(nft) for the nftables backend; C(iptables), C(iptables-restore) (and C(ip6tables), C(ip6tables-restore) for
    IPv6) for the iptables backend.
notes:
  - nftables runs every base chain hooked to C(forward), so the accept in C(ip hostgw) cannot override another
    table's C(policy drop) (Docker's iptables-nft C(FORWARD), firewalld). The module warns when it finds such a chain;
    allow the cluster network there, or use O(firewall=iptables), whose jump sits in the iptables C(FORWARD) chain.
seealso:
  - module: hostgw.network.hostgw_route
'''

EXAMPLES = r'''
- name: Masquerade pod egress like flanneld --ip-masq (nftables where the host uses it)
  hostgw.network.hostgw_firewall:
    network: 10.244.0.0/16
    subnet: 10.244.1.0/24
  become: true
  register: firewall

- name: Replay the same rules at boot (as the hostgw.network.hostgw role does)
  hostgw.network.hostgw_restore:
    firewall: "{{ firewall.boot_state }}"
  become: true

- name: Dual-stack, forwarding on, iptables chains even on an nftables host
  hostgw.network.hostgw_firewall:
    network: 10.244.0.0/16
    subnet: 10.244.1.0/24
    network6: fd00:10:244::/56
    subnet6: fd00:10:244:1::/64
    forwarding: true
    firewall: iptables
  become: true

- name: Remove hostgw's tables and chains
  hostgw.network.hostgw_firewall:
    state: absent
  become: true
'''

RETURN = r'''
backend:
  description: The backend that holds hostgw's rules (V(nftables) or V(iptables)); null with O(state=absent).
  returned: always
  type: str
  sample: nftables
backend_reason:
  description: Why O(firewall=auto) chose RV(backend).
  returned: when O(firewall=auto) and O(state=present)
  type: str
  sample: iptables is iptables-nft (iptables v1.8.9 (nf_tables)) and nft exists
rules:
  description:
    - hostgw's rules as they are after the run (as they would be, in check mode), per family, in the backend's syntax
      (nft rule statements, or C(iptables -S) lines).
  returned: always
  type: dict
  sample: {"4": ["ip saddr 10.244.0.0/16 accept", "ip daddr 10.244.0.0/16 accept"]}
boot_state:
  description:
    - What the boot restore replays (M(hostgw.network.hostgw_restore) O(hostgw.network.hostgw_restore#module:firewall)),
      the options that define the rules. Options at their defaults are left out.
  returned: O(state=present)
  type: dict
  sample: {network: 10.244.0.0/16, subnet: 10.244.1.0/24, masquerade: true, firewall: auto}
actions:
  description: What was changed (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: ['ipv4: created table ip hostgw', 'ipv4: deleted chain nat/HOSTGW-POSTRTG', 'net.ipv4.ip_forward = 1']
'''

import os  # noqa: E402  pylint: disable=wrong-import-position

from ansible.module_utils.basic import AnsibleModule  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.hostgw.network.plugins.module_utils import _files  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.hostgw.network.plugins.module_utils._firewall import (  # noqa: E402  pylint: disable=wrong-import-position
    FIREWALL_CHOICES,
    ModuleRunner,
    SpecError,
    boot_state,
    converge,
    saved_files,
)

_HEADERS = (('nftables', "hostgw's nft tables"), ('iptables', "hostgw's iptables chains and jumps"), ('sysctl', 'forwarding'))


def _save(module, save_dir, files, actions):
    """The deprecated ``save_dir`` copies, through the one writer of hostgw's files (``_files``)."""
    for name, content in sorted(files.items()):
        path = os.path.join(save_dir, name)
        old, mode, _owner = _files.current(path)
        if old == (None if content is None else content.encode()) and (content is None or mode == 0o600):
            continue
        actions.append('%s %s' % ('removed' if content is None else 'wrote', path))
        if module.check_mode:
            continue
        if content is None:
            os.unlink(path)
        else:
            _files.write(module, path, content.encode(), 0o600, [])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            network=dict(type='str'), subnet=dict(type='str'),
            network6=dict(type='str'), subnet6=dict(type='str'),
            masquerade=dict(type='bool', default=True),
            forward_accept=dict(type='bool', default=True),
            random_fully=dict(type='bool', default=True),
            forwarding=dict(type='bool', default=False),
            firewall=dict(type='str', choices=list(FIREWALL_CHOICES), default='auto'),
            save_dir=dict(type='path', removed_in_version='1.0.0', removed_from_collection='hostgw.network'),
            vxlan_port=dict(type='int'),
            vxlan_sources=dict(type='list', elements='str'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
        ),
        required_if=[('state', 'present', ('network', 'subnet'))],
        required_together=[('network6', 'subnet6')],
        supports_check_mode=True,
    )
    spec = dict((k, v) for k, v in module.params.items() if k != 'save_dir')
    res = converge(spec, ModuleRunner(module), check_mode=module.check_mode)
    for w in res.pop('warnings'):
        module.warn(w)
    failures = res.pop('failures')
    before, after = res.pop('before'), res.pop('after')
    if not failures and module.params['save_dir'] and spec['state'] == 'present':
        try:
            _save(module, module.params['save_dir'], saved_files(spec, res['backend']), res['actions'])
        except (IOError, OSError, SpecError) as e:
            failures.append('cannot write the restore files in %s: %s' % (module.params['save_dir'], e))
    if spec['state'] == 'present':
        res['boot_state'] = boot_state(spec)
    res['changed'] = bool(res['actions'])
    if module._diff:
        res['diff'] = [dict(before=before[key], after=after.get(key, ''), before_header=header, after_header=header)
                       for key, header in _HEADERS if before.get(key) or after.get(key)]
    if failures:
        module.fail_json(msg='; '.join(failures), **res)
    module.exit_json(**res)


if __name__ == '__main__':
    main()
