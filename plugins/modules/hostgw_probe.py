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
  - For every peer (O(peers), or those recorded in the node's lease C(<state_dir>/lease.json)), asks the kernel which
    route reaches the peer's pod gateway (C(ip route get)) and pings it once from the node's own pod gateway address,
    so the packet really takes the pod path.
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
      - Omitted, the peers recorded in the node's lease are probed.
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
                                              timeout=dict(type='int', default=2)),
                           supports_check_mode=True)
    try:
        result = _probe.probe(module.params, lambda argv: module.run_command(argv, check_rc=False),
                              lambda name: module.get_bin_path(name, required=True, opt_dirs=['/sbin', '/usr/sbin', '/bin', '/usr/bin']))
    except _probe.ProbeError as e:
        module.fail_json(msg=str(e))
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
