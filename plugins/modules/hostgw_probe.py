#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r'''
module: hostgw_probe
short_description: Check that a node reaches every peer's pod gateway through the host-gw routes
version_added: 0.1.0
description:
  - For every peer, asks the kernel which route reaches the peer's pod gateway (C(ip route get)) and pings it once
    from the node's own pod gateway address, so the packet really takes the pod path.
  - The peers are O(peers), else every member of the node's member table (C(<state_dir>/members.json), the whole
    mesh as the node's last run planned it), else the peer records of its lease (C(<state_dir>/lease.json), its
    ring successors; leases written before 0.2 record every member).
  - Fails when fewer than O(min_peers) peers were probed, so a check that reaches nobody never passes.
  - Changes nothing. Pings go only to the mesh's own pod gateways.
author:
  - hostgw contributors (@hostgw)
extends_documentation_fragment:
  - hostgw.network.attributes
  - hostgw.network.attributes.diff_none
options:
  peers:
    description:
      - The peers to probe, each with C(host), C(subnet) and optionally C(subnet6) (the planner's per-host entries).
      - Omitted, the members of the node's member table are probed (or, without one, the peers its lease records).
    type: list
    elements: dict
  subnet:
    description: This node's pod subnet (the source is its first address). Omitted, the lease's.
    type: str
  subnet6:
    description: This node's IPv6 pod subnet, for IPv6 probes.
    type: str
  state_dir:
    description: Directory holding the node's lease (read only when O(peers) or O(subnet) is omitted).
    type: path
    default: /etc/hostgw
  timeout:
    description: Seconds to wait for each reply.
    type: int
    default: 2
  min_peers:
    description:
      - Fail when fewer peers than this were probed (a peer counts once for both families). V(0) for a one-node mesh.
    type: int
    default: 1
requirements:
  - C(ip) (iproute2) and C(ping) (iputils) on the node.
seealso:
  - module: hostgw.network.hostgw_route
'''

EXAMPLES = r'''
- name: Probe the peers' pod gateways from this node's own (peers as the plan lists them)
  hostgw.network.hostgw_probe:
    subnet: 10.244.1.0/24
    peers:
      - {host: node2, subnet: 10.244.2.0/24}
      - {host: node3, subnet: 10.244.3.0/24}
  register: probe

- name: Peers that did not answer
  ansible.builtin.debug:
    var: probe.failed_peers

- name: The node's lease and member table, as the hostgw.network.hostgw role writes them from its plan
  hostgw.network.hostgw_files:
    manifest: /etc/hostgw/manifest.json
    mesh:
      host: node1
      lease: /etc/hostgw/lease.json
      members: /etc/hostgw/members.json
      plan:
        network: 10.244.0.0/16
        hosts:
          node1: {subnet: 10.244.1.0/24, node_ip: 10.168.0.1}
          node2: {subnet: 10.244.2.0/24, node_ip: 10.168.0.2}
  become: true

- name: Probe every member of the node's member table (no peers given)
  hostgw.network.hostgw_probe:
    state_dir: /etc/hostgw
  become: true
  register: probe

- name: The member table named node2
  ansible.builtin.assert:
    that: probe.peers_from == 'members.json' and 'node2' in probe.peers
'''

RETURN = r'''
source:
  description: This node's pod gateway address, the source of the probes.
  returned: always
  type: str
  sample: 192.168.0.1
peers:
  description: Per peer, C(gateway) probed, C(route) the kernel uses to reach it, and C(ok).
  returned: always
  type: dict
  sample: {host2: {gateway: 192.168.1.1, route: "192.168.1.1 via 10.168.0.2 dev eth0", ok: true}}
peers_from:
  description: Where the peers came from, V(peers) (the option), V(members.json) or V(lease.json).
  returned: always
  type: str
  sample: members.json
failed_peers:
  description: Peers that did not answer.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.hostgw.network.plugins.module_utils import _probe  # noqa: E402  pylint: disable=wrong-import-position


def main():
    module = AnsibleModule(argument_spec=dict(state_dir=dict(type='path', default='/etc/hostgw'),
                                              peers=dict(type='list', elements='dict'),
                                              subnet=dict(type='str'), subnet6=dict(type='str'),
                                              timeout=dict(type='int', default=2),
                                              min_peers=dict(type='int', default=1)),
                           supports_check_mode=True)
    try:
        result = _probe.probe(module.params, lambda argv: module.run_command(argv, check_rc=False),
                              lambda name: module.get_bin_path(name, required=True, opt_dirs=['/sbin', '/usr/sbin', '/bin', '/usr/bin']))
    except _probe.ProbeError as e:
        module.fail_json(msg=str(e))
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
