# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Peers on other segments: applying N encapsulated peers (FDB, neighbor and route entries) on one node, hostgw's
``_node.routes`` (``cross_subnet: vxlan``) against ``bridge -batch`` plus ``ip -batch`` for the same entries, in the
same run.

    python bench/vxlan.py [--peers 1000] [--runs 5] [--nexthop-objects]

One network namespace ``hgwv-<pid>`` with a veth pair (eth0 172.16.0.1/24, its peer end in the same namespace): every
peer's node IP (10.200.x.y) is off that segment, so every peer is encapsulated. Nothing is sent to any peer (the
entries are made, no packet is). The namespace is deleted at the end, also on failure.

Timed: hostgw, the one ``_node.routes`` call (read, plan, device, FDB, neighbors, routes), what the module's ``run``
is; iproute2, ``ip link add`` of the same device plus ``bridge -batch`` (FDB) and ``ip -batch`` (neighbors, routes),
three processes, with the entries written out beforehand (not timed). Each run starts from a node without the device.
With ``--nexthop-objects`` hostgw's routes go through one next-hop object per peer (``nexthop_objects: true``; the
iproute2 side stays plain routes, for the comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
NS = 'hgwv-%d' % os.getpid()

INNER = r'''
import json, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.hostgw.network.plugins.module_utils import _netlink, _node
p = json.load(open(sys.argv[2]))
with _netlink.Kernel() as kernel:
    t = time.perf_counter()
    res = _node.routes(p, kernel)
    took = time.perf_counter() - t
print(json.dumps(dict(seconds=took, added=len(res['added']), changes=len(res['vxlan']['changes']))))
'''


def sh(*argv, data=None):
    p = subprocess.run([str(a) for a in argv], input=data, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise RuntimeError('%s: %s%s' % (' '.join(str(a) for a in argv), p.stdout, p.stderr))
    return p.stdout


def members(n):
    out = {'me': dict(subnet='10.250.0.0/24', node_ip='172.16.0.1', node_prefix=24)}
    for i in range(n):
        out['peer%05d' % i] = dict(subnet='10.%d.%d.0/24' % (i // 256, i % 256),
                                   node_ip='10.200.%d.%d' % (i // 250, i % 250 + 1), node_prefix=24)
    return out


def iproute2_inputs(n):
    from ansible_collections.hostgw.network.plugins.module_utils import _vxlan  # pylint: disable=import-outside-toplevel
    fdb, rest = [], []
    for name, m in sorted(members(n).items()):
        if name == 'me':
            continue
        mac = _vxlan.vtep_mac(m['node_ip'])
        vtep = _vxlan.vtep_address(m['subnet'])
        fdb.append('fdb append %s dev hostgw.1 dst %s self permanent' % (mac, m['node_ip']))
        rest.append('neigh replace %s lladdr %s dev hostgw.1 nud permanent' % (vtep, mac))
        rest.append('route replace %s via %s dev hostgw.1 onlink proto 244' % (m['subnet'], vtep))
    return '\n'.join(fdb) + '\n', '\n'.join(rest) + '\n'


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--peers', type=int, default=1000)
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--python', default=os.path.join(REPO, '.venv', 'bin', 'python'))
    ap.add_argument('--nexthop-objects', action='store_true')
    a = ap.parse_args()
    collections = os.path.join(REPO, '.cache', 'collections')
    sys.path.insert(0, collections)
    sh('ip', 'netns', 'add', NS)
    try:
        sh('ip', '-n', NS, 'link', 'set', 'lo', 'up')
        sh('ip', '-n', NS, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p')
        sh('ip', '-n', NS, 'addr', 'add', '172.16.0.1/24', 'dev', 'eth0')
        sh('ip', '-n', NS, 'link', 'set', 'eth0', 'up')
        sh('ip', '-n', NS, 'link', 'set', 'eth0p', 'up')
        tmp = tempfile.mkdtemp(prefix='hgwv-')
        args = os.path.join(tmp, 'p.json')
        with open(args, 'w') as f:
            json.dump(dict(members=members(a.peers), uplink='eth0', node_ip='172.16.0.1', bridge=None, proto=244,
                           metric=None, purge=True, state='present', nexthop_objects='true' if a.nexthop_objects else 'false', cross_subnet='vxlan',
                           vxlan=dict(name='hostgw.1', vni=1, port=8472)), f)
        fdb_in, rest_in = iproute2_inputs(a.peers)
        hostgw, iproute2, noop = [], [], []
        for _run in range(a.runs):
            out = json.loads(sh('ip', 'netns', 'exec', NS, a.python, '-c', INNER, collections, args))
            assert out['added'] == a.peers and out['changes'] == 2 * a.peers + 2, out
            hostgw.append(out['seconds'])
            out = json.loads(sh('ip', 'netns', 'exec', NS, a.python, '-c', INNER, collections, args))
            assert out['added'] == 0 and out['changes'] == 0, out
            noop.append(out['seconds'])
            sh('ip', '-n', NS, 'link', 'del', 'hostgw.1')
            t = time.perf_counter()
            sh('ip', '-n', NS, 'link', 'add', 'hostgw.1', 'address', '0e:68:ac:10:00:01', 'mtu', '1450', 'type', 'vxlan',
               'id', '1', 'dstport', '8472', 'local', '172.16.0.1', 'dev', 'eth0', 'nolearning')
            sh('ip', '-n', NS, 'link', 'set', 'hostgw.1', 'up')
            sh('ip', 'netns', 'exec', NS, 'bridge', '-batch', '-', data=fdb_in)
            sh('ip', '-n', NS, '-batch', '-', data=rest_in)
            iproute2.append(time.perf_counter() - t)
            assert len(sh('ip', '-n', NS, 'route', 'show', 'proto', '244').splitlines()) == a.peers
            sh('ip', '-n', NS, 'link', 'del', 'hostgw.1')
        print('%d encapsulated peers (FDB + neighbor + route each), median of %d runs, %s, kernel %s%s'
              % (a.peers, a.runs, a.python, os.uname().release, ', hostgw through next-hop objects' if a.nexthop_objects else ''))
        print('| | seconds |')
        print('|---|---|')
        print('| hostgw `_node.routes` (device, %d FDB, %d neighbor, %d route entries) | %.3f |' % (a.peers, a.peers, a.peers, median(hostgw)))
        print('| `ip link add` + `bridge -batch` + `ip -batch` (same entries) | %.3f |' % median(iproute2))
        print('| hostgw re-run, nothing to change (read, plan) | %.3f |' % median(noop))
    finally:
        subprocess.run(['ip', 'netns', 'del', NS], check=False)


if __name__ == '__main__':
    main()
