# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""hostgw_route with kernel next-hop objects (nexthop_objects): one owned object per peer, routes by nhid, mode
switches in both directions without a moment without a route, foreign objects and their routes never touched."""

from __future__ import annotations

import subprocess
import time

from test_hostgw_route import expected


def nexthops(node, proto=None):
    out = node.ipj('nexthop', 'show')
    return [n for n in out if proto is None or str(n.get('protocol')) == str(proto)]


def owned_nh_routes(node):
    return sorted((r['dst'], r.get('gateway'), r.get('nhid')) for r in node.owned())


def test_create_idempotent_check_and_diff(run_module, mesh):
    n1 = mesh.nodes[0]
    res = run_module(n1, 'hostgw_route', dict(routes=mesh.routes(), uplink='eth0', nexthop_objects='true'),
                     check_mode=True, diff=True)
    assert res['changed'] and nexthops(n1) == [] and n1.owned() == []            # check mode changed nothing
    assert 'nexthop id 244000000 via 10.168.0.2 dev eth0 proto 244' in res['diff']['after']
    res = run_module(n1, 'hostgw_route', dict(routes=mesh.routes(), uplink='eth0', nexthop_objects='true'))
    assert res['nexthop_objects'] is True and len(res['nexthops_added']) == 3
    nhs = nexthops(n1, 244)
    assert sorted((n['gateway'], n['dev']) for n in nhs) == [('10.168.0.%d' % i, 'eth0') for i in (2, 3, 4)]
    by_id = dict((n['id'], n['gateway']) for n in nhs)
    routes = owned_nh_routes(n1)
    assert [(d, g) for d, g, _i in routes] == [(d, g) for d, g, _dev, _m in expected(mesh, n1)]
    assert all(by_id[i] == g for _d, g, i in routes)                       # each route uses its peer's object
    again = run_module(n1, 'hostgw_route', dict(routes=mesh.routes(), uplink='eth0', nexthop_objects='auto'))
    assert again['changed'] is False and again['unchanged'] == 3


def test_switch_both_ways_without_a_gap(run_module, mesh_factory):
    """A ping runs through four mode switches: not one packet is lost."""
    mesh = mesh_factory(2)
    n1, n2 = mesh.nodes
    n2.ip('link', 'add', 'cni0', 'type', 'bridge')
    n2.ip('link', 'set', 'cni0', 'up')
    n2.ip('addr', 'add', n2.gw4 + '/24', 'dev', 'cni0')
    run_module(n1, 'hostgw_route', dict(routes=mesh.routes(), uplink='eth0', nexthop_objects='false'))
    ping = subprocess.Popen(['ip', 'netns', 'exec', n1.netns.name, 'ping', '-n', '-q', '-i', '0.005', '-W', '1',
                             '-w', '60', n2.gw4], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        for mode in ('true', 'false', 'true', 'false'):
            res = run_module(n1, 'hostgw_route', dict(routes=mesh.routes(), uplink='eth0', nexthop_objects=mode))
            assert res['replaced'] and not res['removed'] and not res['added'], res
            assert bool(nexthops(n1, 244)) is (mode == 'true')
            time.sleep(0.3)
    finally:
        ping.send_signal(2)
        out, err = ping.communicate(timeout=30)
    stats = [x for x in out.splitlines() if 'packets transmitted' in x]
    assert stats, out + err
    sent, received = (int(x.split()[0]) for x in stats[0].split(', ')[:2])
    assert sent > 100 and received == sent, stats[0]


def test_foreign_objects_and_their_routes_untouched(run_module, mesh):
    n1 = mesh.nodes[0]
    n1.ip('nexthop', 'add', 'id', '5', 'via', '10.168.0.3', 'dev', 'eth0')
    n1.ip('nexthop', 'add', 'id', '244000000', 'via', '10.168.0.4', 'dev', 'eth0', 'proto', 'static')  # in our range
    n1.ip('route', 'add', '172.20.0.0/16', 'nhid', '5')
    foreign_nh = sorted((n['id'], n['gateway']) for n in nexthops(n1) if n['id'] in (5, 244000000))
    foreign_rt = [r for r in n1.routes() if r['dst'] == '172.20.0.0/16']
    res = run_module(n1, 'hostgw_route', dict(routes=mesh.routes(), uplink='eth0', nexthop_objects='true'))
    assert 244000000 not in [int(x.split()[1]) for x in res['nexthops_added']]
    ours = dict((n['gateway'], n['id']) for n in nexthops(n1, 244))
    # a foreign route on one of our objects: the object must outlive hostgw's own routes
    n1.ip('route', 'add', '172.21.0.0/16', 'nhid', str(ours['10.168.0.2']))
    run_module(n1, 'hostgw_route', dict(routes=mesh.routes(), uplink='eth0', nexthop_objects='false'))
    res = run_module(n1, 'hostgw_route', dict(state='absent'))
    assert n1.owned() == []
    assert [n['id'] for n in nexthops(n1, 244)] == [ours['10.168.0.2']]      # kept: a foreign route uses it
    assert [r['dst'] for r in n1.routes() if r['dst'] == '172.21.0.0/16'] == ['172.21.0.0/16']
    assert sorted((n['id'], n['gateway']) for n in nexthops(n1) if n['id'] in (5, 244000000)) == foreign_nh
    assert [r for r in n1.routes() if r['dst'] == '172.20.0.0/16'] == foreign_rt


def test_ipv6_and_absent_removes_owned_objects(run_module, mesh):
    n1 = mesh.nodes[0]
    res = run_module(n1, 'hostgw_route', dict(routes=mesh.routes(v6=True), uplink='eth0', nexthop_objects='true'))
    assert len(res['nexthops_added']) == 6
    assert all(r.get('nhid') for r in n1.owned(6)) and len(n1.owned(6)) == 3
    res = run_module(n1, 'hostgw_route', dict(state='absent'))
    assert len(res['removed']) == 6 and len(res['nexthops_removed']) == 6
    assert nexthops(n1, 244) == [] and n1.owned() == [] and n1.owned(6) == []
