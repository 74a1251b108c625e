# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hand-encoded route path of _netlink against the kernel: the dump decoder reads exactly what pyroute2's
decoder reads, and routes_apply reports exactly which change was made and which was refused, across chunks.

The code under test runs inside a test namespace (``ip netns exec``) with the interpreter under test.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from test_hostgw_route import hostgw, owned

PRELUDE = '''
import json, socket, sys
from ansible_collections.hostgw.network.plugins.module_utils import _netlink
from ansible_collections.hostgw.network.plugins.module_utils._routes import KRoute, WRoute
'''


def in_ns(interp, collections_path, netns, code):
    """Run ``code`` (after PRELUDE) in ``netns``; it prints one JSON document, returned parsed."""
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('ANSIBLE_', 'PYTHON')))
    env.update(PYTHONPATH=collections_path, LC_ALL='C.UTF-8', PYTHONDONTWRITEBYTECODE='1')
    p = subprocess.run(['ip', 'netns', 'exec', netns.name, interp.path, '-c', PRELUDE + code],
                       capture_output=True, text=True, env=env, timeout=300, check=False)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


def uplink(ns):
    ns.ip('link', 'add', 'eth0', 'type', 'bridge')
    ns.ip('link', 'set', 'eth0', 'up')
    ns.ip('addr', 'add', '10.168.0.1/16', 'dev', 'eth0')
    ns.ip('addr', 'add', 'fd00:168::1/64', 'dev', 'eth0', 'nodad')


def ip_batch(ns, lines):
    """Run ``lines`` with ``ip -batch`` in ``ns``."""
    path = os.path.join('/tmp', '%s.batch' % ns.name)
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    try:
        ns.ip('-batch', path)
    finally:
        os.unlink(path)


def test_dump_decoder_matches_pyroute2(interp, collections_path, ns):
    uplink(ns)
    batch = []
    for i in range(1500):   # several dump messages
        batch.append('route add 10.%d.%d.0/24 via 10.168.%d.%d dev eth0 proto 244 metric %d'
                     % (100 + i // 256, i % 256, 1 + i // 250, 2 + i % 250, i % 3))
    batch += [
        'route add blackhole 10.200.0.0/24 proto 244',
        'route add unreachable 10.200.1.0/24',
        'route add prohibit 10.200.2.0/24 metric 7',
        'route add 10.200.3.0/24 dev eth0 proto 244',
        'route add 10.200.4.0/24 proto 244 nexthop via 10.168.0.2 dev eth0 nexthop via 10.168.0.3 dev eth0',
        'route add 10.200.5.7/32 via 10.168.0.9 dev eth0 src 10.168.0.1',
        'route add 10.200.6.0/24 via 10.168.0.2 dev eth0 proto 244 table 100',
        'route add 10.200.7.0/24 via 10.168.0.2 dev eth0 table 1000',
        'route add fd00:244:1::/64 via fd00:168::2 dev eth0 proto 244',
        'route add fd00:244:2::/64 via fd00:168::3 dev eth0 proto 244 metric 5',
        'route add blackhole fd00:244:3::/64 proto 244',
        'route add fd00:244:4::/64 proto 244 nexthop via fd00:168::2 dev eth0 nexthop via fd00:168::3 dev eth0',
        'route add fd00:244:5::/64 via fe80::1 dev eth0',
        'route add fd00:244:6::/64 via fd00:168::2 dev eth0 table 100',
        'nexthop add id 77 via 10.168.0.2 dev eth0 proto 244',
        'route add 10.200.8.0/24 nhid 77 proto 244',
        'nexthop add id 78 via fd00:168::2 dev eth0',
        'route add fd00:244:8::/64 nhid 78 proto 244 metric 7',
    ]
    ip_batch(ns, batch)
    res = in_ns(interp, collections_path, ns, '''
from pyroute2 import IPRoute


def ref_routes():
    """The main table read through pyroute2's own decoder: the reference for the hand-decoded dump."""
    out = []
    with IPRoute() as ipr:
        for version, family in ((4, socket.AF_INET), (6, socket.AF_INET6)):
            for m in ipr.get_routes(family=family, table=254):
                if (m.get_attr('RTA_TABLE') or m['table']) != 254:
                    continue
                dst = m.get_attr('RTA_DST') or ('0.0.0.0' if version == 4 else '::')
                prio = m.get_attr('RTA_PRIORITY')
                out.append(KRoute(version, '%s/%d' % (dst, m['dst_len']), m.get_attr('RTA_GATEWAY'),
                                  m.get_attr('RTA_OIF'), m['proto'], prio if prio is not None else 0, m['type']))
    return out


with _netlink.Kernel() as k:
    print(json.dumps(dict(fast=sorted(k.routes(), key=repr), ref=sorted(ref_routes(), key=repr))))
''')
    # pyroute2 does not decode RTA_NH_ID on every version: compare the rest with it, nhid with iproute2 below.
    fast = [tuple(r[:7]) + (None,) for r in res['fast']]
    ref = [tuple(r) for r in res['ref']]
    nhids = dict((r[1], r[7]) for r in res['fast'] if r[7])
    assert nhids == dict((r['dst'], r['nhid']) for fam in (4, 6) for r in ns.routes(fam) if r.get('nhid'))
    assert len(fast) > 1500
    assert fast == ref
    dests = set(r[1] for r in fast)
    assert '10.200.6.0/24' not in dests and '10.200.7.0/24' not in dests and 'fd00:244:6::/64' not in dests
    assert '10.200.4.0/24' in dests and 'fd00:244:4::/64' in dests
    assert nhids == {'10.200.8.0/24': 77, 'fd00:244:8::/64': 78}
    assert [r[2] for r in fast if r[1] == '10.200.8.0/24'] == ['10.168.0.2']          # with its gateway


def test_nexthop_dump_decoder_matches_iproute2(interp, collections_path, ns):
    """Many next-hop objects of mixed shapes, interleaved so that messages of one length carry different attributes
    (the dump decoder learns whole-message layouts and must fall back whenever a message differs)."""
    uplink(ns)
    ns.ip('link', 'add', 'dummy1', 'type', 'bridge')
    ns.ip('link', 'set', 'dummy1', 'up')
    batch = []
    for i in range(600):
        kind = i % 6
        nid = 1000 + i
        if kind == 0:
            batch.append('nexthop add id %d via 10.168.%d.%d dev eth0 proto 244' % (nid, 1 + i // 250, 2 + i % 250))
        elif kind == 1:
            batch.append('nexthop add id %d via fd00:168::%x dev eth0' % (nid, 2 + i))
        elif kind == 2:
            batch.append('nexthop add id %d blackhole proto %d' % (nid, 100 + i % 50))
        elif kind == 3:
            batch.append('nexthop add id %d dev dummy1' % nid)
        elif kind == 4:
            batch.append('nexthop add id %d group %d' % (nid, nid - 4))
        else:
            batch.append('nexthop add id %d via 10.168.%d.%d dev eth0' % (nid, 3 + i // 250, 2 + i % 250))
    ip_batch(ns, batch)
    res = in_ns(interp, collections_path, ns, '''
with _netlink.Kernel() as k:
    links = dict((x['index'], x['name']) for x in k.links())
    print(json.dumps(dict(nh=[list(n) for n in k.nexthops()], links=links)))
''')
    names = dict((int(k), v) for k, v in res['links'].items())
    ref = {}
    for n in ns.ipj('nexthop', 'show'):
        proto = n.get('protocol', 'unspec')
        proto = {'unspec': 0, 'boot': 3, 'static': 4}.get(proto, proto)
        ref[n['id']] = (n.get('gateway'), n.get('dev'), int(proto), bool('group' in n or 'blackhole' in n))
    mine = dict((n[0], (n[2], names.get(n[3]) if n[3] else None, n[4], n[5])) for n in res['nh'])
    assert len(mine) == 600
    assert mine == ref
    assert mine[1000] == ('10.168.1.2', 'eth0', 244, False) and mine[1004][3] is True and mine[1002][3] is True


def test_apply_exact_outcome_across_chunks(interp, collections_path, ns):
    """40 additions in chunks of 7; #9 has an unreachable next hop: its chunk (7-13) is done except #9, the rest not sent."""
    uplink(ns)
    res = in_ns(interp, collections_path, ns, '''
ops = []
for i in range(40):
    via = '10.99.0.1' if i == 9 else '10.168.0.%d' % (2 + i)
    ops.append(('add', WRoute(4, '10.%d.0.0/24' % (100 + i), via, 0, None)))
with _netlink.Kernel() as k:
    k._socket()
    k._chunk = 7
    idx = [l['index'] for l in k.links() if l['name'] == 'eth0'][0]
    b = k.routes_apply(ops, idx, 244)
    print(json.dumps(dict(done=b.done, failed=[(i, e.code, str(e)) for i, e in b.failed], error=str(b.error),
                          unknown=b.unknown, owned=sorted(r.dest for r in k.routes((4,)) if r.proto == 244))))
''')
    assert res['done'] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13]
    assert res['failed'] == [[9, 101, "(101, 'Network is unreachable')"]]
    assert res['error'] == 'None' and res['unknown'] == []
    assert res['owned'] == sorted('10.%d.0.0/24' % (100 + i) for i in res['done'])


def test_apply_replace_and_delete(interp, collections_path, ns):
    uplink(ns)
    ns.ip('route', 'add', '10.100.0.0/24', 'via', '10.168.0.2', 'dev', 'eth0', 'proto', '244')
    ns.ip('route', 'add', '10.101.0.0/24', 'dev', 'eth0', 'proto', '244')          # scope link
    ns.ip('route', 'add', 'blackhole', '10.102.0.0/24', 'proto', '244')
    ns.ip('-6', 'route', 'add', 'fd00:244:1::/64', 'via', 'fd00:168::2', 'dev', 'eth0', 'proto', '244')
    res = in_ns(interp, collections_path, ns, '''
with _netlink.Kernel() as k:
    idx = [l['index'] for l in k.links() if l['name'] == 'eth0'][0]
    old = dict((r.dest, r) for r in k.routes() if r.proto == 244)
    b1 = k.routes_apply([('replace', WRoute(4, '10.100.0.0/24', '10.168.0.3', 0, None)),
                         ('replace', WRoute(6, 'fd00:244:1::/64', 'fd00:168::3', 1024, None))], idx, 244)
    b2 = k.routes_apply([('delete', old['10.101.0.0/24']), ('delete', old['10.102.0.0/24']),
                         ('delete', KRoute(4, '10.103.0.0/24', '10.168.0.2', idx, 244, 0, 1))])
    print(json.dumps(dict(b1=[b1.done, b1.failed], b2=[b2.done, [(i, e.code) for i, e in b2.failed]])))
''')
    assert res['b1'] == [[0, 1], []]
    assert res['b2'] == [[0, 1], [[2, 3]]]     # the missing route: ESRCH, named by its index
    assert owned(ns) == [('10.100.0.0/24', '10.168.0.3', 'eth0', 0)]
    assert owned(ns, 6) == [('fd00:244:1::/64', 'fd00:168::3', 'eth0', 1024)]


def test_apply_large_batch(interp, collections_path, ns):
    """5,000 changes in one call: every acknowledgement fits (no ENOBUFS), every change is reported."""
    uplink(ns)
    res = in_ns(interp, collections_path, ns, '''
ws = [WRoute(4, '10.%d.%d.0/24' % (100 + i // 256, i % 256), '10.168.%d.%d' % (1 + i // 250, 2 + i % 250), 0, None)
      for i in range(5000)]
with _netlink.Kernel() as k:
    idx = [l['index'] for l in k.links() if l['name'] == 'eth0'][0]
    b = k.routes_apply([('add', w) for w in ws], idx, 244)
    n_after_add = len([r for r in k.routes((4,)) if r.proto == 244])
    extra = [WRoute(4, '10.250.%d.0/24' % i, '10.168.0.2', 0, None) for i in range(2)]
    again = k.routes_apply([('add', w) for w in ws[:1] + extra], idx, 244)
    owned = [r for r in k.routes((4,)) if r.proto == 244]
    d = k.routes_apply([('delete', r) for r in owned])
    print(json.dumps(dict(done=len(b.done), failed=len(b.failed), error=str(b.error), n=n_after_add,
                          again=[again.done, [(i, e.code) for i, e in again.failed]],
                          deleted=len(d.done), left=len([r for r in k.routes((4,)) if r.proto == 244]))))
''')
    assert res == dict(done=5000, failed=0, error='None', n=5000, again=[[1, 2], [[0, 17]]], deleted=5002, left=0)


def test_purge_owned_link_scope_route(run_module, mesh):
    """An owned route without a next hop (scope link, left by hand) is purged like any other owned route."""
    n1 = mesh.nodes[0]
    n1.ip('route', 'add', '192.168.60.0/24', 'dev', 'eth0', 'proto', '244')
    res = hostgw(run_module, n1, routes=mesh.routes())
    assert len(res['removed']) == 1 and res['removed'][0].startswith('192.168.60.0/24 ')
    assert not any(r['dst'] == '192.168.60.0/24' for r in n1.routes(4))


@pytest.mark.parametrize('reachable', [(2,), ()])
def test_refusals_reported_per_route(run_module, mesh, reachable):
    """The connected route is gone; only host routes to some peers remain: the additions via those peers are
    made and listed in added, every other one is listed in failures with its errno, and nothing more is made."""
    n1 = mesh.nodes[0]
    n1.ip('route', 'del', '10.168.0.0/24', 'dev', 'eth0')
    for i in reachable:
        n1.ip('route', 'add', '10.168.0.%d' % i, 'dev', 'eth0')
    res = hostgw(run_module, n1, fail=True, routes=mesh.routes())
    made = ['192.168.%d.0/24 via 10.168.0.%d dev eth0 proto 244' % (i, i) for i in reachable]
    refused = ['add 192.168.%d.0/24 via 10.168.0.%d dev eth0 proto 244' % (i, i) for i in (2, 3, 4) if i not in reachable]
    assert res['added'] == made and res['changed'] is bool(made)
    assert [f['change'] for f in res['failures']] == refused
    assert all(f['errno'] == 101 and f['error'] == 'Network is unreachable' for f in res['failures'])
    assert res['msg'].startswith('failed to %s: (101, ' % refused[0])
    assert 're-run to converge' in res['msg']
    assert [(d, v) for d, v, _dev, _m in owned(n1)] == [(m.split()[0], m.split()[2]) for m in made]
