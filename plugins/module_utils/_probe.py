# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What ``hostgw_probe`` does: for each peer, the route the kernel picks to its pod gateway and one ping from this
node's own pod gateway. Commands go through ``run(argv) -> (rc, out, err)`` (argv only, never a shell)."""

from __future__ import annotations

import ipaddress
import json
import os

__metaclass__ = type  # pylint: disable=invalid-name


class ProbeError(Exception):
    pass


def _gateway(cidr):
    net = ipaddress.ip_network(cidr)
    return str(net.network_address + 1)


def probe(p, run, which):
    """``p``: the module's parameters; ``which(name)`` -> path of a command. Returns the result (source, peers, failed_peers)."""
    lease = {}
    if p['peers'] is None or not p['subnet']:
        path = os.path.join(p['state_dir'], 'lease.json')
        try:
            with open(path) as f:
                lease = json.load(f)
        except (IOError, OSError, ValueError) as e:
            raise ProbeError('cannot read the lease %s (was playbooks/site.yml run on this node?), and peers or subnet '
                             'was not given: %s' % (path, e))
    me = lease.get('host')
    mine = {'subnet': p['subnet'] or lease.get('subnet'), 'subnet6': p['subnet6'] or lease.get('subnet6')}
    if p['peers'] is not None:
        peers = dict((str(x.get('host')), x) for x in p['peers'])
    else:
        peers = lease.get('mesh') or {}
    for key in ('subnet', 'subnet6'):
        for name, value in [('subnet', mine[key])] + [(peer, rec.get(key)) for peer, rec in peers.items()]:
            if value:
                try:
                    ipaddress.ip_network(value)
                except ValueError:
                    raise ProbeError('%s: %s %r is not a network in CIDR form' % (name, key, value))
    if not mine['subnet']:
        raise ProbeError('no subnet for this node: give subnet or run playbooks/site.yml first (it writes the lease)')
    ip, ping = which('ip'), which('ping')
    results = {}
    failed = []
    for fam, key in ((4, 'subnet'), (6, 'subnet6')):
        if not mine[key]:
            continue
        source = _gateway(mine[key])
        for peer, rec in sorted(peers.items()):
            if peer == me or not rec.get(key) or rec.get(key) == mine[key]:
                continue
            gw = _gateway(rec[key])
            rc, out, _err = run([ip, '-%d' % fam, 'route', 'get', gw, 'from', source])
            route = (out.splitlines() or [''])[0].strip()
            rc, _out, _err = run([ping, '-%d' % fam, '-c', '1', '-W', str(p['timeout']), '-I', source, gw])
            name = peer if fam == 4 else '%s (IPv6)' % peer
            results[name] = dict(gateway=gw, route=route, ok=rc == 0)
            if rc != 0:
                failed.append(name)
    return dict(source=_gateway(mine['subnet']), peers=results, failed_peers=failed)
