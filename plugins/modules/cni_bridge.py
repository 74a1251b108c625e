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
  - ansible.builtin.action_common_attributes
  - hostgw.network.netlink
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
options:
  name:
    description: Bridge name (an interface name of 1-15 characters).
    type: str
    default: cni0
  addresses:
    description:
      - Gateway addresses with prefix length, at most one per family, for example
        RV(hostgw.network.hostgw_subnet#module:ansible_facts.hostgw_plan.hosts.gateway_cidr) (C(10.244.1.1/24)).
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
- name: Bridge with this node's pod gateway
  hostgw.network.cni_bridge:
    name: cni0
    addresses:
      - "{{ hostgw_plan.hosts[inventory_hostname].gateway_cidr }}"
    mtu: 1500
  become: true

- name: Dual-stack gateway addresses
  hostgw.network.cni_bridge:
    addresses: [10.244.1.1/24, "fd00:10:244:1::1/64"]

- name: Remove the bridge (only if hostgw manages it)
  hostgw.network.cni_bridge:
    name: cni0
    state: absent
'''

RETURN = r'''
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
actions:
  description: What was changed (or would be, in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ['create', 'alias hostgw: managed bridge', 'addr_add 10.244.1.1/24', 'up']
'''

import sys  # noqa: E402  pylint: disable=wrong-import-position

from ansible.module_utils.basic import AnsibleModule  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.hostgw.network.plugins.module_utils import _netlink  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.hostgw.network.plugins.module_utils._bridge import (  # noqa: E402  pylint: disable=wrong-import-position
    BridgeError,
    apply_to_view,
    describe,
    parse_addresses,
    plan_bridge,
    validate_name,
)


def _read(kernel, name):
    link = None
    for item in kernel.links():
        if item['name'] == name:
            link = item
            break
    addrs = []
    if link is not None:
        addrs = ['%s/%d' % (a.address, a.prefixlen) for a in kernel.addrs() if a.index == link['index']]
    return link, addrs


def _view(link, addrs):
    if link is None:
        return {}
    return dict(name=link['name'], mtu=link['mtu'], up=link['up'],
                addresses=sorted(a for a in addrs if not a.lower().startswith('fe80:')))


def run(module, kernel):
    p = module.params
    name = validate_name(p['name'])
    want = parse_addresses(p['addresses'])
    if p['mtu'] is not None and not 68 <= p['mtu'] <= 65535:
        raise BridgeError('mtu %d is out of range (68-65535)' % p['mtu'])
    link, addrs = _read(kernel, name)
    actions = plan_bridge(link, addrs, want, p['mtu'], p['state'])
    after_link, after_addrs = apply_to_view(name, link, addrs, actions)
    result = dict(changed=bool(actions), actions=[' '.join(str(x) for x in a) for a in actions])
    if module._diff:
        result['diff'] = dict(before=describe(name, link, addrs), after=describe(name, after_link, after_addrs),
                              before_header='bridge %s' % name, after_header='bridge %s' % name)
    if module.check_mode or not actions:
        result['bridge'] = _view(after_link, after_addrs)
        return result
    index = link['index'] if link is not None else None
    done = []
    try:
        for act in actions:
            if act[0] == 'create':
                index = kernel.bridge_create(name)
            elif act[0] == 'delete':
                kernel.link_del(index)
            elif act[0] == 'alias':
                kernel.link_set(index, ifalias=act[1])
            elif act[0] == 'mtu':
                kernel.link_set(index, mtu=act[1])
            elif act[0] == 'up':
                kernel.link_set(index, state='up')
            elif act[0] == 'addr_del':
                kernel.addr_del(index, act[1])
            elif act[0] == 'addr_add':
                kernel.addr_add(index, act[1])
            done.append(' '.join(str(x) for x in act))
        if p['state'] == 'present' and any(a[0] == 'addr_del' for a in actions):
            # Deleting a primary IPv4 address also deletes the secondaries of its subnet (unless
            # promote_secondaries is set), which can take a wanted address with it: put those back.
            _link, now = _read(kernel, name)
            for a in want:
                if a not in now:
                    act = ('addr_add', a)
                    kernel.addr_add(index, a)
                    done.append(' '.join(str(x) for x in act))
    except (_netlink.NetlinkError, OSError) as e:
        module.fail_json(msg='bridge %s: failed at "%s": %s (done before it: %s); re-run to converge'
                         % (name, ' '.join(str(x) for x in act), e, ', '.join(done) or 'nothing'),
                         actions=done, changed=bool(done))
    result['actions'] = done
    link, addrs = _read(kernel, name)
    result['bridge'] = _view(link, addrs)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', default='cni0'),
            addresses=dict(type='list', elements='str', default=[]),
            mtu=dict(type='int'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
        ),
        supports_check_mode=True,
    )
    missing = _netlink.missing_pyroute2(sys.executable)
    if missing:
        module.fail_json(msg=missing, exception=_netlink.PYROUTE2_IMPORT_ERROR)
    try:
        with _netlink.Kernel() as kernel:
            result = run(module, kernel)
    except BridgeError as e:
        module.fail_json(msg=str(e))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
