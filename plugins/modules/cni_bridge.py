#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r'''
module: cni_bridge
short_description: Ensure the pods' Linux bridge with exactly the given gateway addresses
version_added: 0.1.0
description:
  - Ensures a Linux bridge (default C(cni0)) exists, is up, carries exactly the given gateway addresses
    (one IPv4 and optionally one IPv6) and the given MTU. This is what the CNI C(bridge) plugin does with
    C(isGateway=true) at the first pod, done before any pod exists and kept right afterwards.
  - An address from an old subnet is removed and the new one added (Flannel issue 1013, where C(cni0) kept an
    old address and the CNI plugin failed). IPv6 link-local addresses the kernel adds are left alone.
  - The bridge is marked as managed with an interface alias; O(state=absent) deletes only a bridge carrying
    that mark. A link of that name that is not a bridge is never touched (the module fails).
  - The module never enslaves any interface; pods' veths are attached by the CNI plugin, and the uplink stays as it is.
author:
  - hostgw contributors (@hostgw)
extends_documentation_fragment:
  - hostgw.network.attributes
  - hostgw.network.attributes.diff_full
  - hostgw.network.netlink
options:
  bridge:
    description:
      - Bridge name (an interface name of 1-15 characters).
      - The alias O(name) is deprecated and will be removed in hostgw.network 1.0.0.
    aliases: [name]
    type: str
    default: cni0
  addresses:
    description:
      - Gateway addresses with prefix length, at most one per family, for example
        the C(gateway_cidr) of the host's plan entry (C(10.244.1.1/24)), from the filter P(hostgw.network.plan_host#filter).
      - Any other address on the bridge is removed, except IPv6 link-local ones.
    type: list
    elements: str
    default: []
  mtu:
    description: MTU of the bridge. If omitted, the MTU is left as it is (a new bridge gets the kernel's 1500).
    type: int
  state:
    description: V(present) creates or corrects the bridge; V(absent) deletes it if hostgw manages it.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: hostgw.network.hostgw_subnet
  - module: hostgw.network.hostgw_route
'''

EXAMPLES = r'''
# The gateway address is the host's gateway_cidr from the plan, as the hostgw.network.hostgw role passes it:
# addresses: ["{{ (planned.plan | hostgw.network.plan_host(inventory_hostname)).gateway_cidr }}"]
- name: Bridge with this node's pod gateway
  hostgw.network.cni_bridge:
    bridge: cni0
    addresses: [10.244.1.1/24]
    mtu: 1500
  become: true

- name: Dual-stack gateway addresses
  hostgw.network.cni_bridge:
    addresses: [10.244.1.1/24, "fd00:10:244:1::1/64"]
  become: true

- name: Remove the bridge (only if hostgw manages it)
  hostgw.network.cni_bridge:
    bridge: cni0
    state: absent
  become: true
'''

RETURN = r'''
boot_state:
  description: What this run applied, for M(hostgw.network.hostgw_restore) to replay at boot (C(name), C(addresses), C(mtu)).
  returned: when O(state=present)
  type: dict
  sample: {name: cni0, addresses: [10.244.1.1/24], mtu: 1500}
bridge:
  description: The bridge as it is after the run (as it would be, in check mode). Empty when absent.
  returned: always
  type: dict
  contains:
    name:
      description: Bridge name.
      type: str
      sample: cni0
    mtu:
      description: MTU.
      type: int
      sample: 1500
    up:
      description: Whether the link is administratively up.
      type: bool
      sample: true
    addresses:
      description: Addresses on the bridge, IPv6 link-local excluded.
      type: list
      elements: str
      sample: ['10.244.1.1/24']
mtu_kept_by:
  description:
    - When the run changes the bridge's MTU, the links attached to the bridge at that moment (the running pods' veths,
      as the CNI bridge plugin makes them). They and their pods keep the MTU they have until the pods are made again.
    - Empty otherwise.
  returned: always
  type: list
  elements: str
  sample: ['veth1a2b3c4d']
actions:
  description: What was changed (or would be, in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ['create', 'alias hostgw: managed bridge', 'addr_add 10.244.1.1/24', 'up']
'''

from ansible.module_utils.basic import AnsibleModule  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.hostgw.network.plugins.module_utils import _netlink  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.hostgw.network.plugins.module_utils import _node  # noqa: E402  pylint: disable=wrong-import-position


def main():
    module = AnsibleModule(
        argument_spec=dict(
            bridge=dict(type='str', default='cni0', aliases=['name'],
                        deprecated_aliases=[dict(name='name', version='1.0.0', collection_name='hostgw.network')]),
            addresses=dict(type='list', elements='str', default=[]),
            mtu=dict(type='int'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
        ),
        supports_check_mode=True,
    )
    try:
        with _netlink.Kernel() as kernel:
            result = _node.bridge(module.params, kernel, module.check_mode, module._diff)
    except _node.BridgeError as e:
        module.fail_json(msg=str(e))
    except _node.NodeError as e:
        module.fail_json(msg=e.msg, **e.result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
