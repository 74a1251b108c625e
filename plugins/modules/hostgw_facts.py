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
  - Works without pyroute2 (it reads the kernel with C(ip -json), from iproute2, run without a shell).
author:
  - hostgw contributors (@hostgw)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
options:
  state_dir:
    description: Directory holding the node's hostgw state (lease and C(subnet.env)).
    type: path
    default: /etc/hostgw
requirements:
  - C(ip) from iproute2 with JSON output (iproute2 4.13 or later).
seealso:
  - module: hostgw.network.hostgw_subnet
'''

EXAMPLES = r'''
- name: Read the node
  hostgw.network.hostgw_facts:
    state_dir: /etc/hostgw

- name: Show the lease
  ansible.builtin.debug:
    var: hostgw_lease
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
          description: C(iptables) when an iptables binary is present, else C(nftables) when nft is, else C(none).
          type: str
        lease_error:
          description: Why the lease file could not be read, if it exists but is unreadable; the lease is then unknown.
          type: str
'''

import json  # noqa: E402  pylint: disable=wrong-import-position
import os  # noqa: E402  pylint: disable=wrong-import-position
import sys  # noqa: E402  pylint: disable=wrong-import-position

from ansible.module_utils.basic import AnsibleModule  # noqa: E402  pylint: disable=wrong-import-position

_PROTO = {'kernel': 2, 'boot': 3, 'static': 4, 'redirect': 1, 'dhcp': 16, 'ra': 9}


def _pyroute2_version():
    try:
        import pyroute2  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
    except ImportError:
        return None
    try:
        from importlib.metadata import version  # pylint: disable=import-outside-toplevel
        return version('pyroute2')
    except Exception:  # pylint: disable=broad-except
        return 'unknown'


def _ip_json(module, args):
    ip = module.get_bin_path('ip', required=True, opt_dirs=['/sbin', '/usr/sbin'])
    rc, out, err = module.run_command([ip, '-json'] + args, check_rc=False)
    if rc != 0:
        module.fail_json(msg='ip -json %s failed: %s' % (' '.join(args), err.strip()))
    return json.loads(out or '[]')


def _proto(value):
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return _PROTO.get(value, value)


def read_lease(state_dir):
    path = os.path.join(state_dir, 'lease.json')
    if not os.path.exists(path):
        return {}, None
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        return None, '%s: %s' % (path, e)
    if not isinstance(data, dict):
        return None, '%s is not a JSON object' % path
    return data, None


def main():
    module = AnsibleModule(argument_spec=dict(state_dir=dict(type='path', default='/etc/hostgw')), supports_check_mode=True)
    links = []
    for l in _ip_json(module, ['-details', 'link', 'show']):
        links.append(dict(name=l.get('ifname'), kind=(l.get('linkinfo') or {}).get('info_kind'), mtu=l.get('mtu'),
                          up='UP' in (l.get('flags') or []), alias=l.get('ifalias')))
    addresses = []
    for l in _ip_json(module, ['addr', 'show']):
        for a in l.get('addr_info') or []:
            if a.get('family') not in ('inet', 'inet6') or a.get('scope') == 'link' or a.get('scope') == 'host':
                continue
            addresses.append(dict(ifname=l.get('ifname'), family=4 if a['family'] == 'inet' else 6,
                                  address=a.get('local'), prefixlen=a.get('prefixlen'),
                                  temporary=bool(a.get('temporary') or a.get('deprecated') or a.get('tentative'))))
    routes = []
    for fam, flag in ((4, '-4'), (6, '-6')):
        for r in _ip_json(module, [flag, 'route', 'show', 'table', 'main']):
            dst = r.get('dst')
            if dst == 'default':
                dst = '0.0.0.0/0' if fam == 4 else '::/0'
            elif dst and '/' not in dst:
                dst = '%s/%d' % (dst, 32 if fam == 4 else 128)
            routes.append(dict(family=fam, dest=dst, via=r.get('gateway'), dev=r.get('dev'), proto=_proto(r.get('protocol', 'boot')),
                               type=r.get('type', 'unicast')))
    defaults = {}
    for fam in (4, 6):
        dev = next((r['dev'] for r in routes if r['family'] == fam and r['dest'] in ('0.0.0.0/0', '::/0') and r.get('dev')), None)
        defaults[fam] = next((a['address'] for a in addresses
                              if a['family'] == fam and a['ifname'] == dev and not a.get('temporary')), None)
    lease, lease_error = read_lease(module.params['state_dir'])
    facts = dict(
        hostgw_host=dict(
            links=links, addresses=addresses, routes=routes, pyroute2=_pyroute2_version(), python=sys.executable,
            default_ipv4=defaults[4], default_ipv6=defaults[6],
            systemd=os.path.isdir('/run/systemd/system'),
            firewall='iptables' if module.get_bin_path('iptables', opt_dirs=['/sbin', '/usr/sbin']) else
                     ('nftables' if module.get_bin_path('nft', opt_dirs=['/sbin', '/usr/sbin']) else 'none'),
            lease_error=lease_error,
        ),
    )
    if lease is not None:
        facts['hostgw_lease'] = lease
    module.exit_json(changed=False, ansible_facts=facts)


if __name__ == '__main__':
    main()
