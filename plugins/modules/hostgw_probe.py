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
  - Reads the node's lease (C(<state_dir>/lease.json), written by the C(hostgw.network.hostgw) role), and for every
    peer in it asks the kernel which route reaches the peer's pod gateway (C(ip route get)) and pings it once from the
    node's own pod gateway address, so the packet really takes the pod path.
  - Changes nothing. Pings go only to the mesh's own pod gateways.
author:
  - hostgw contributors (@hostgw)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  state_dir:
    description: Directory holding the node's lease.
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
- name: Probe every peer
  hostgw.network.hostgw_probe:
  register: probe
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

import ipaddress  # noqa: E402  pylint: disable=wrong-import-position
import json  # noqa: E402  pylint: disable=wrong-import-position
import os  # noqa: E402  pylint: disable=wrong-import-position

from ansible.module_utils.basic import AnsibleModule  # noqa: E402  pylint: disable=wrong-import-position


def _gateway(cidr):
    net = ipaddress.ip_network(cidr)
    return str(net.network_address + 1)


def main():
    module = AnsibleModule(argument_spec=dict(state_dir=dict(type='path', default='/etc/hostgw'),
                                              timeout=dict(type='int', default=2)),
                           supports_check_mode=True)
    path = os.path.join(module.params['state_dir'], 'lease.json')
    try:
        with open(path) as f:
            lease = json.load(f)
    except (IOError, OSError, ValueError) as e:
        module.fail_json(msg='cannot read the lease %s (was playbooks/site.yml run on this node?): %s' % (path, e))
    me = lease.get('host')
    ip = module.get_bin_path('ip', required=True, opt_dirs=['/sbin', '/usr/sbin'])
    ping = module.get_bin_path('ping', required=True, opt_dirs=['/bin', '/usr/bin'])
    results = {}
    failed = []
    for fam, key in ((4, 'subnet'), (6, 'subnet6')):
        if not lease.get(key):
            continue
        source = _gateway(lease[key])
        for peer, rec in sorted((lease.get('mesh') or {}).items()):
            if peer == me or not rec.get(key):
                continue
            gw = _gateway(rec[key])
            rc, out, _err = module.run_command([ip, '-%d' % fam, 'route', 'get', gw, 'from', source], check_rc=False)
            route = (out.splitlines() or [''])[0].strip()
            rc, _out, _err = module.run_command([ping, '-%d' % fam, '-c', '1', '-W', str(module.params['timeout']), '-I', source, gw],
                                                check_rc=False)
            name = peer if fam == 4 else '%s (IPv6)' % peer
            results[name] = dict(gateway=gw, route=route, ok=rc == 0)
            if rc != 0:
                failed.append(name)
    module.exit_json(changed=False, source=_gateway(lease['subnet']), peers=results, failed_peers=failed)


if __name__ == '__main__':
    main()
