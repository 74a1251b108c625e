# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What ``hostgw_probe`` does: for each peer, the route the kernel picks to its pod gateway and one ping from this
node's own pod gateway. Commands go through ``run(argv) -> (rc, out, err)`` (argv only, never a shell)."""

from __future__ import annotations

import ipaddress

from ansible_collections.hostgw.network.plugins.module_utils._facts import read_lease, read_members
from ansible_collections.hostgw.network.plugins.module_utils._lease import MEMBERS_FILE, peer_records, table_rows
from ansible_collections.hostgw.network.plugins.module_utils._mesh import first_address

__metaclass__ = type  # pylint: disable=invalid-name


class ProbeError(Exception):
    pass


def node_peers(state_dir):
    """What the node's own files say about the mesh: ``(own {host, subnet, subnet6}, {peer: {subnet, subnet6}}, source)``.

    The member table (every member, as the node's last run planned them) when there is one; else the lease's peer
    records (a ring lease's ``peers``, or the ``mesh`` of a lease written before ring leases). Read through the same
    readers as ``hostgw_facts``. Raises ``ProbeError`` when neither can be read."""
    lease, why = read_lease(state_dir)
    if lease is None or not lease:
        raise ProbeError('cannot read the lease in %s (was playbooks/site.yml run on this node?), and peers or subnet '
                         'was not given: %s' % (state_dir, why or 'no lease.json'))
    me = lease.get('host')
    own = {'host': me, 'subnet': lease.get('subnet'), 'subnet6': lease.get('subnet6')}
    table, _why = read_members(state_dir)
    rows = table_rows(table) if table else None
    if rows:
        return own, dict((n, r) for n, r in rows.items() if n != me), MEMBERS_FILE
    peers = {}
    recs_list, bad = peer_records(lease)
    if bad is not None:
        raise ProbeError('the lease in %s: %s must be a dict of host: {subnet, subnet6}' % (state_dir, bad))
    for recs in recs_list:
        for name, rec in recs.items():
            if name != me and isinstance(rec, dict):
                peers.setdefault(name, rec)
    return own, peers, 'lease.json'


def probe(p, run, which):
    """``p``: the module's parameters; ``which(name)`` -> path of a command. Returns the result (source, peers,
    failed_peers, peers_from). Fails (``ProbeError``) when fewer than ``min_peers`` peers were probed: a check that
    probes nobody must not pass."""
    own, peers, origin = {'host': None, 'subnet': None, 'subnet6': None}, {}, 'peers'
    if p['peers'] is None or not p['subnet']:
        own, peers, origin = node_peers(p['state_dir'])
    me = own['host']
    mine = {'subnet': p['subnet'] or own['subnet'], 'subnet6': p['subnet6'] or own['subnet6']}
    if p['peers'] is not None:
        peers = dict((str(x.get('host')), x) for x in p['peers'])
        origin = 'peers'
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
        source = first_address(mine[key])
        for peer, rec in sorted(peers.items()):
            if peer == me or not rec.get(key) or rec.get(key) == mine[key]:
                continue
            gw = first_address(rec[key])
            rc, out, _err = run([ip, '-%d' % fam, 'route', 'get', gw, 'from', source])
            route = (out.splitlines() or [''])[0].strip()
            rc, _out, _err = run([ping, '-%d' % fam, '-c', '1', '-W', str(p['timeout']), '-I', source, gw])
            name = peer if fam == 4 else '%s (IPv6)' % peer
            results[name] = dict(gateway=gw, route=route, ok=rc == 0)
            if rc != 0:
                failed.append(name)
    probed = len(set(name.replace(' (IPv6)', '') for name in results))
    if probed < p.get('min_peers', 1):
        raise ProbeError('probed %d peer%s (from %s), fewer than min_peers %d: %s (set min_peers: 0 for a one-node mesh)'
                         % (probed, '' if probed == 1 else 's', origin, p.get('min_peers', 1),
                            'the node knows no peer' if not peers else 'no peer has a subnet of a family this node has'))
    return dict(source=first_address(mine['subnet']), peers=results, failed_peers=failed, peers_from=origin)
