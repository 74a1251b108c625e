# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter ``hostgw.network.plan_host``: one host's entry of a hostgw_subnet plan, gateways included."""

from __future__ import annotations

DOCUMENTATION = r'''
name: plan_host
version_added: 0.3.0
short_description: One host's entry of a hostgw_subnet plan, with its gateway addresses
description:
  - Takes the plan of M(hostgw.network.hostgw_subnet) (RV(hostgw.network.hostgw_subnet#module:plan)) and returns the
    entry of one host, RV(hostgw.network.hostgw_subnet#module:plan.hosts), with the addresses derived from it added.
  - The plan carries only what cannot be derived (about 100 bytes a host), so that it stays small at any mesh size;
    this filter gives each host the rest, in constant time.
author:
  - hostgw contributors (@hostgw)
positional: host
options:
  _input:
    description: The plan.
    type: dict
    required: true
  host:
    description: The host's inventory name.
    type: str
    required: true
'''

EXAMPLES = r'''
- name: Plan the mesh once for the whole group
  hostgw.network.hostgw_subnet:
    network: 10.244.0.0/16
  run_once: true
  register: planned

- name: This host's subnet and the bridge address of its pods' gateway
  ansible.builtin.debug:
    msg: >-
      {{ (planned.plan | hostgw.network.plan_host(inventory_hostname)).subnet }} with gateway
      {{ (planned.plan | hostgw.network.plan_host(inventory_hostname)).gateway_cidr }}
'''

RETURN = r'''
_value:
  description: The host's entry, RV(hostgw.network.hostgw_subnet#module:plan.hosts), and the keys below.
  type: dict
  contains:
    subnet:
      description: The host's pod subnet.
      type: str
      sample: 10.244.1.0/24
    node_ip:
      description: The host's node IP.
      type: str
      sample: 10.168.0.1
    source:
      description: Where the subnet came from (V(pin), V(lease), V(peer-record) or V(new)).
      type: str
      sample: lease
    uplink:
      description: The host's uplink (null without facts).
      type: str
      sample: eth0
    mtu:
      description: The uplink's MTU (null without facts).
      type: int
      sample: 1500
    node_prefix:
      description: The prefix length of the node IP on the uplink (null without facts).
      type: int
      returned: the plan was made with P(hostgw.network.hostgw_subnet#module) option C(cross_subnet=vxlan)
      sample: 24
    encapsulated:
      description: Whether the host reaches any peer through VXLAN (null when its node network is not known).
      type: bool
      returned: the plan was made with P(hostgw.network.hostgw_subnet#module) option C(cross_subnet=vxlan)
      sample: true
    gateway:
      description: The first address of the subnet, the pods' gateway.
      type: str
      sample: 10.244.1.1
    gateway_cidr:
      description: The gateway with the subnet's prefix length, the bridge's address.
      type: str
      sample: 10.244.1.1/24
    subnet6:
      description: With dual-stack, the host's IPv6 pod subnet.
      type: str
      returned: the plan is dual-stack
      sample: fd00:10:244:1::/64
    node_ip6:
      description: With dual-stack, the IPv6 node IP.
      type: str
      returned: the plan is dual-stack
    source6:
      description: With dual-stack, where the IPv6 subnet came from.
      type: str
      returned: the plan is dual-stack
    gateway6:
      description: With dual-stack, the IPv6 gateway.
      type: str
      returned: the plan is dual-stack
      sample: fd00:10:244:1::1
    gateway6_cidr:
      description: With dual-stack, the IPv6 gateway with prefix length.
      type: str
      returned: the plan is dual-stack
      sample: fd00:10:244:1::1/64
'''

from ansible.errors import AnsibleFilterError  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.hostgw.network.plugins.module_utils._plan import host_view  # noqa: E402  pylint: disable=wrong-import-position

__metaclass__ = type  # pylint: disable=invalid-name


def plan_host(plan, host):
    if not isinstance(plan, dict) or not isinstance(plan.get('hosts'), dict):
        raise AnsibleFilterError('plan_host: the input is not a plan of hostgw.network.hostgw_subnet (it has no hosts)')
    if host not in plan['hosts']:
        raise AnsibleFilterError('plan_host: host %s is not in the plan (%d hosts, group %s)'
                                 % (host, len(plan['hosts']), plan.get('group')))
    return host_view(plan, host)


class FilterModule:
    def filters(self):
        return {'plan_host': plan_host}
