#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r'''
module: hostgw_facts
short_description: Read what hostgw needs to know about a node, changing nothing
version_added: 0.1.0
description:
  - Reads, without changing anything, the node's lease (C(<state_dir>/lease.json)), its links, addresses and
    main-table routes, whether the target Python can import pyroute2, the init system and the packet filter in use.
  - Used by the C(hostgw.network.hostgw) role before any host is changed, so the whole mesh can be checked
    (L2 adjacency, overlaps, name clashes) on the controller first.
  - Reads the kernel through hostgw's netlink seam (one dump each of links, addresses and routes, decoded by hostgw
    itself), so it needs neither pyroute2 nor C(ip).
  - With O(networks), the routes returned are only those the controller needs (overlapping a cluster network, and the
    default routes), not the whole routing table.
author:
  - hostgw contributors (@hostgw)
extends_documentation_fragment:
  - hostgw.network.attributes
  - hostgw.network.attributes.diff_none
  - hostgw.network.attributes.facts
options:
  state_dir:
    description: Directory holding the node's hostgw state (lease and C(subnet.env)).
    type: path
    default: /etc/hostgw
  networks:
    description:
      - Cluster networks (CIDR). When given, RV(ansible_facts.hostgw_host.routes) holds only the routes that overlap one of
        them and the default routes; otherwise every main-table route.
    type: list
    elements: str
    default: []
  skip_proto:
    description:
      - Leave out of RV(ansible_facts.hostgw_host.routes) the routes with this route protocol, meant for hostgw's own
        (the O(hostgw.network.hostgw_route#module:proto) of its routes, 244 by default). The controller never checks
        them, and with them the fact grows with the mesh (one route per peer).
    type: int
  members:
    description:
      - Also read the node's member table (C(<state_dir>/members.json), every member's subnets and node IPs as the
        node's last run planned them) into RV(ansible_facts.hostgw_members).
      - The C(hostgw.network.hostgw) role asks for it only when the run does not cover the whole group (C(--limit),
        C(serial), a job slice), so that hosts outside the run keep their subnets; a full run reads only the
        constant-size leases.
    type: bool
    default: false
seealso:
  - module: hostgw.network.hostgw_subnet
'''

EXAMPLES = r'''
- name: Read the node
  hostgw.network.hostgw_facts:
    state_dir: /etc/hostgw
    networks: [10.244.0.0/16]
    skip_proto: 244

- name: Read the node and its member table, as a run over part of the group does
  hostgw.network.hostgw_facts:
    members: true

- name: Show the lease (empty when the node holds none)
  ansible.builtin.debug:
    var: ansible_facts.hostgw_lease
'''

RETURN = r'''
ansible_facts:
  description: Facts about the node.
  returned: always
  type: dict
  contains:
    hostgw_lease:
      description:
        - The node's lease as last written by the role (C(subnet), C(subnet6), C(network), C(mesh)), or an empty
          dict when the node holds none. This is the input O(hostgw.network.hostgw_subnet#module:lease_var) expects.
      type: dict
      sample: {subnet: 10.244.1.0/24, network: 10.244.0.0/16, mesh: {node2: {subnet: 10.244.2.0/24}}}
    hostgw_members:
      description:
        - With O(members=true), the node's member table as last written by the role (C(host), C(group), C(members),
          each member's C([subnet, node IP]) or C([subnet, node IP, subnet6, node IP6])), or an empty dict when the node
          holds none. This is what O(hostgw.network.hostgw_subnet#module:members_var) reads.
      type: dict
      returned: when O(members=true) and the table can be read
      sample: {host: node1, group: hostgw_nodes, members: {node1: [10.244.1.0/24, 192.0.2.11], node2: [10.244.2.0/24, 192.0.2.12]}}
    hostgw_host:
      description: What the node looks like.
      type: dict
      contains:
        links:
          description: Links (C(name), C(kind), C(mtu), C(up), C(alias)).
          type: list
          elements: dict
        addresses:
          description:
            - Addresses (C(ifname), C(family), C(address), C(prefixlen), C(temporary)), link-local IPv6 excluded.
            - C(temporary) is true for IPv6 temporary (privacy), deprecated or tentative addresses, never used as node IPs.
          type: list
          elements: dict
        default_ipv4:
          description: The first address on the IPv4 default route's interface, or null (no default route).
          type: str
        default_ipv6:
          description: The first stable IPv6 address on the IPv6 default route's interface, or null.
          type: str
        routes:
          description: Main-table routes (C(dest), C(via), C(dev), C(proto), C(family)).
          type: list
          elements: dict
        pyroute2:
          description: Version of pyroute2 the target Python imports, or null.
          type: str
        python:
          description: The target's Python interpreter.
          type: str
        systemd:
          description: Whether the node runs systemd as its init.
          type: bool
        firewall:
          description:
            - The firewall backend M(hostgw.network.hostgw_firewall) chooses with O(hostgw.network.hostgw_firewall#module:firewall=auto)
              on this node (the same detection), C(nftables) or C(iptables), or C(none) when the node has neither.
          type: str
        networkmanager:
          description: Whether NetworkManager is installed (its binary or C(/etc/NetworkManager)).
          type: bool
        vxlan:
          description:
            - Whether the kernel can make VXLAN devices (loaded, built in, or a module in its module lists); null when
              it cannot be told (no module lists, as in many containers). Pre-flight refuses
              C(hostgw_cross_subnet=vxlan) on a node where it is false.
          type: bool
        lease_error:
          description: Why the lease file could not be read, if it exists but is unreadable; the lease is then unknown.
          type: str
        members_error:
          description: With O(members=true), why the member table could not be read, if it exists but is unreadable.
          type: str
        members_read:
          description:
            - True when this run read the member table into RV(ansible_facts.hostgw_members) (O(members=true)); the
              planner takes only tables read in the run it plans, never one kept in a fact cache.
          type: bool
'''

import os  # noqa: E402  pylint: disable=wrong-import-position
import sys  # noqa: E402  pylint: disable=wrong-import-position

from ansible.module_utils.basic import AnsibleModule  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.hostgw.network.plugins.module_utils import _facts  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.hostgw.network.plugins.module_utils import _firewall  # noqa: E402  pylint: disable=wrong-import-position


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state_dir=dict(type='path', default='/etc/hostgw'),
            networks=dict(type='list', elements='str', default=[]),
            skip_proto=dict(type='int'),
            members=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    try:
        host = _facts.read_node(module.params['networks'], module.params['skip_proto'])
    except (OSError, ValueError) as e:
        module.fail_json(msg='cannot read the kernel: %s' % e)
    lease, lease_error = _facts.read_lease(module.params['state_dir'])
    host.update(
        pyroute2=_facts.pyroute2_version(), python=sys.executable,
        systemd=os.path.isdir('/run/systemd/system'),
        firewall=_firewall.detect(_firewall.ModuleRunner(module))[0] or 'none',
        networkmanager=_facts.networkmanager(lambda name: module.get_bin_path(name, opt_dirs=['/sbin', '/usr/sbin'])),
        vxlan=_facts.vxlan_support(os.uname().release),
        lease_error=lease_error,
    )
    facts = dict(hostgw_host=host)
    if lease is not None:
        facts['hostgw_lease'] = lease
    if module.params['members']:
        table, host['members_error'] = _facts.read_members(module.params['state_dir'])
        if table is not None:
            facts['hostgw_members'] = table
            host['members_read'] = True
    module.exit_json(changed=False, ansible_facts=facts)


if __name__ == '__main__':
    main()
