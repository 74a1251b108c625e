# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""hostgw_route against the kernel: 4 'nodes' (namespaces) on one L2 segment (a bridge in a fifth one).

Node i: eth0 10.168.0.i/24 and fd00:168::i/64, pod subnet 192.168.i.0/24 and fd00:244:i::/64.
Kernel state is read back with ``ip -j route``.
"""

from __future__ import annotations

import pytest


def hostgw(run_module, node, check_mode=False, diff=False, fail=False, **args):
    """hostgw_route with plain via routes (nexthop_objects false) unless a test asks otherwise:
    tests/kernel/test_nexthops.py covers the next-hop object mode."""
    if 'dev' not in args and 'node_ip' not in args and args.get('state') != 'absent':
        args['dev'] = 'eth0'
    if args.get('state') != 'absent':
        args.setdefault('nexthop_objects', False)
    return run_module(node, 'hostgw_route', args, check_mode=check_mode, diff=diff, fail=fail)


def owned(node, family=4):
    """The proto-244 routes of the main table as (dst, gateway, dev, metric) tuples."""
    return sorted((r['dst'], r.get('gateway'), r.get('dev'), r.get('metric', 0)) for r in node.owned(family))


def expected(mesh, me, family=4, without=()):
    out = []
    for n in mesh.nodes:
        if n is me or n.i in without:
            continue
        if family == 4:
            out.append((n.pod4, n.ip4, 'eth0', 0))
        else:
            out.append((n.pod6, n.ip6, 'eth0', 1024))
    return sorted(out)


def line(node, family=4):
    if family == 4:
        return '%s via %s dev eth0 proto 244' % (node.pod4, node.ip4)
    return '%s via %s dev eth0 proto 244' % (node.pod6, node.ip6)


def test_create_full_mesh(run_module, mesh):
    n1 = mesh.nodes[0]
    res = hostgw(run_module, n1, routes=mesh.routes())
    assert res['changed'] is True
    assert res['uplink'] == 'eth0' and res['proto'] == 244
    assert sorted(res['added']) == sorted(line(n) for n in mesh.nodes[1:])
    assert res['own_subnets'] == [n1.pod4]
    assert res['removed'] == [] and res['replaced'] == [] and res['unchanged'] == 0
    assert owned(n1) == expected(mesh, n1)
    # Read the kernel's own words: proto 244, via the peer, on eth0, unicast, no route to our own subnet.
    for r in n1.owned(4):
        assert str(r['protocol']) == '244' and r['dev'] == 'eth0' and 'type' not in r
    assert not any(r['dst'] == n1.pod4 for r in n1.routes(4))


def test_idempotent(run_module, mesh):
    n1 = mesh.nodes[0]
    hostgw(run_module, n1, routes=mesh.routes())
    before = n1.all_routes()
    res = hostgw(run_module, n1, routes=mesh.routes())
    assert res['changed'] is False
    assert res['unchanged'] == 3
    assert res['added'] == [] and res['replaced'] == [] and res['removed'] == []
    assert n1.all_routes() == before


def test_check_mode_changes_nothing(run_module, mesh):
    n1 = mesh.nodes[0]
    before = n1.all_routes()
    res = hostgw(run_module, n1, check_mode=True, routes=mesh.routes())
    assert res['changed'] is True
    assert len(res['added']) == 3
    assert n1.all_routes() == before
    # Check mode with removals and a replacement pending: still nothing changes.
    hostgw(run_module, n1, routes=mesh.routes())
    before = n1.all_routes()
    wanted = mesh.routes(without=(4,))
    wanted[1]['via'] = '10.168.0.30'  # node2's entry (node1's own is first)
    res = hostgw(run_module, n1, check_mode=True, routes=wanted)
    assert res['changed'] is True
    assert res['removed'] == [line(mesh.nodes[3])]
    assert res['replaced'] == ['192.168.2.0/24 via 10.168.0.30 dev eth0 proto 244']
    assert n1.all_routes() == before


def test_diff(run_module, mesh):
    n1 = mesh.nodes[0]
    res = hostgw(run_module, n1, diff=True, check_mode=True, routes=mesh.routes())
    assert res['diff']['before'].strip() == ''
    assert res['diff']['after'].strip().splitlines() == sorted(line(n) for n in mesh.nodes[1:])
    hostgw(run_module, n1, routes=mesh.routes())
    res = hostgw(run_module, n1, diff=True, routes=mesh.routes(without=(3,)))
    assert res['diff']['before'].strip().splitlines() == sorted(line(n) for n in mesh.nodes[1:])
    assert res['diff']['after'].strip().splitlines() == sorted(line(n) for n in (mesh.nodes[1], mesh.nodes[3]))
    assert owned(n1) == expected(mesh, n1, without=(3,))


def test_purge_departed_peer(run_module, mesh):
    n1, n4 = mesh.nodes[0], mesh.nodes[3]
    hostgw(run_module, n1, routes=mesh.routes())
    # purge=false keeps the departed peer's route.
    res = hostgw(run_module, n1, routes=mesh.routes(without=(4,)), purge=False)
    assert res['changed'] is False and res['removed'] == []
    assert owned(n1) == expected(mesh, n1)
    # purge=true (default) removes it.
    res = hostgw(run_module, n1, routes=mesh.routes(without=(4,)))
    assert res['changed'] is True
    assert res['removed'] == [line(n4)]
    assert res['unchanged'] == 2
    assert owned(n1) == expected(mesh, n1, without=(4,))


def test_foreign_route_elsewhere_untouched(run_module, mesh):
    n1 = mesh.nodes[0]
    n1.ip('route', 'add', '172.31.9.0/24', 'via', '10.168.0.2', 'dev', 'eth0', 'proto', 'static')
    n1.ip('-6', 'route', 'add', 'fd00:31:9::/64', 'via', 'fd00:168::2', 'dev', 'eth0', 'proto', 'boot')

    def foreign():
        return ([r for r in n1.routes(4) if r['dst'] == '172.31.9.0/24'],
                [r for r in n1.routes(6) if r['dst'] == 'fd00:31:9::/64'])

    before = foreign()
    assert len(before[0]) == 1 and len(before[1]) == 1
    hostgw(run_module, n1, routes=mesh.routes(v6=True))
    assert foreign() == before
    res = hostgw(run_module, n1, routes=mesh.routes(without=(2, 3, 4)))  # purge everything owned
    assert len(res['removed']) == 6
    assert foreign() == before
    hostgw(run_module, n1, routes=mesh.routes(v6=True))
    res = hostgw(run_module, n1, state='absent')
    assert len(res['removed']) == 6
    assert foreign() == before


@pytest.mark.parametrize('proto', ['static', 'boot', '245'])
def test_foreign_route_on_wanted_destination(run_module, mesh, proto):
    n1 = mesh.nodes[0]
    n1.ip('route', 'add', '192.168.3.0/24', 'via', '10.168.0.3', 'dev', 'eth0', 'proto', proto)
    before = n1.all_routes()
    res = hostgw(run_module, n1, fail=True, routes=mesh.routes())
    assert 'peer node3' in res['msg'] and '192.168.3.0/24' in res['msg']
    assert 'does not own' in res['msg'] and 'via 10.168.0.3' in res['msg']
    assert res.get('changed') in (None, False)
    assert n1.all_routes() == before  # the other wanted routes were not added either
    assert owned(n1) == []


def test_foreign_ipv6_route_on_wanted_destination(run_module, mesh):
    n1 = mesh.nodes[0]
    n1.ip('-6', 'route', 'add', 'fd00:244:2::/64', 'via', 'fd00:168::2', 'dev', 'eth0')
    before = n1.all_routes()
    res = hostgw(run_module, n1, fail=True, routes=mesh.routes(v6=True))
    assert 'peer node2' in res['msg'] and 'fd00:244:2::/64' in res['msg']
    assert n1.all_routes() == before


def test_off_link_next_hop(run_module, mesh):
    n1 = mesh.nodes[0]
    wanted = mesh.routes() + [dict(dest='192.168.50.0/24', via='10.99.0.5', host='faraway')]
    before = n1.all_routes()
    res = hostgw(run_module, n1, fail=True, routes=wanted)
    assert 'peer faraway' in res['msg'] and '10.99.0.5' in res['msg'] and 'not on-link' in res['msg']
    assert res['errors'] and len(res['errors']) == 1
    assert n1.all_routes() == before


def test_off_link_ipv6_next_hop(run_module, mesh):
    n1 = mesh.nodes[0]
    wanted = mesh.routes(v6=True) + [dict(dest='fd00:244:50::/64', via='fd00:99::5', host='faraway6')]
    before = n1.all_routes()
    res = hostgw(run_module, n1, fail=True, routes=wanted)
    assert 'peer faraway6' in res['msg'] and 'fd00:99::5' in res['msg']
    assert n1.all_routes() == before


def test_via_change_replaced_in_place(run_module, mesh):
    n1 = mesh.nodes[0]
    hostgw(run_module, n1, routes=mesh.routes(v6=True))
    wanted = mesh.routes(v6=True)
    for w in wanted:
        if w['host'] == 'node3':
            w['via'] = '10.168.0.33' if ':' not in w['via'] else 'fd00:168::33'
    res = hostgw(run_module, n1, routes=wanted)
    assert res['changed'] is True
    assert sorted(res['replaced']) == ['192.168.3.0/24 via 10.168.0.33 dev eth0 proto 244',
                                       'fd00:244:3::/64 via fd00:168::33 dev eth0 proto 244']
    assert res['added'] == [] and res['removed'] == [] and res['unchanged'] == 4
    assert [r for r in owned(n1) if r[0] == '192.168.3.0/24'] == [('192.168.3.0/24', '10.168.0.33', 'eth0', 0)]
    assert [r for r in owned(n1, 6) if r[0] == 'fd00:244:3::/64'] == [('fd00:244:3::/64', 'fd00:168::33', 'eth0', 1024)]
    assert len(owned(n1)) == 3 and len(owned(n1, 6)) == 3
    res = hostgw(run_module, n1, routes=wanted)
    assert res['changed'] is False


def test_wrong_device_replaced(run_module, mesh):
    """An owned route on another link (say the uplink was renamed/replaced) is moved to dev."""
    n1 = mesh.nodes[0]
    n1.ip('link', 'add', 'eth1', 'type', 'bridge')
    n1.ip('link', 'set', 'eth1', 'up')
    n1.ip('addr', 'add', '10.168.0.101/24', 'dev', 'eth1')
    n1.ip('route', 'add', '192.168.2.0/24', 'via', '10.168.0.2', 'dev', 'eth1', 'proto', '244')
    res = hostgw(run_module, n1, routes=mesh.routes())
    assert res['replaced'] == [line(mesh.nodes[1])]
    assert owned(n1) == expected(mesh, n1)


def test_uplink_missing(run_module, mesh):
    n1 = mesh.nodes[0]
    before = n1.all_routes()
    res = hostgw(run_module, n1, fail=True, routes=mesh.routes(), dev='nosuch0')
    assert 'uplink nosuch0 does not exist' in res['msg']
    assert n1.all_routes() == before


def test_ipv6_dual_stack(run_module, mesh):
    n1 = mesh.nodes[0]
    res = hostgw(run_module, n1, routes=mesh.routes(v6=True))
    assert res['changed'] is True
    assert len(res['added']) == 6
    assert sorted(res['own_subnets']) == sorted([n1.pod4, n1.pod6])
    assert owned(n1, 6) == expected(mesh, n1, 6)
    for r in n1.owned(6):
        assert r['metric'] == 1024 and str(r['protocol']) == '244'
    before = n1.all_routes()
    res = hostgw(run_module, n1, routes=mesh.routes(v6=True))
    assert res['changed'] is False and res['unchanged'] == 6
    assert n1.all_routes() == before


def test_custom_metric(run_module, mesh):
    n1 = mesh.nodes[0]
    res = hostgw(run_module, n1, routes=mesh.routes(v6=True), metric=50)
    assert all(line.endswith(' metric 50') for line in res['added'])
    assert all(r[3] == 50 for r in owned(n1) + owned(n1, 6))
    res = hostgw(run_module, n1, routes=mesh.routes(v6=True), metric=50)
    assert res['changed'] is False
    # Back to the default metric: the metric-50 routes go, default-metric ones come.
    res = hostgw(run_module, n1, routes=mesh.routes(v6=True))
    assert res['changed'] is True
    assert owned(n1) == expected(mesh, n1) and owned(n1, 6) == expected(mesh, n1, 6)


def test_state_absent(run_module, mesh):
    n1 = mesh.nodes[0]
    n1.ip('route', 'add', '172.31.9.0/24', 'via', '10.168.0.2', 'dev', 'eth0', 'proto', 'static')
    hostgw(run_module, n1, routes=mesh.routes(v6=True))
    n1.ip('route', 'add', '10.200.0.0/24', 'via', '10.168.0.4', 'dev', 'eth0', 'proto', '245')
    before = n1.all_routes()
    res = hostgw(run_module, n1, state='absent', check_mode=True, diff=True)
    assert res['changed'] is True and len(res['removed']) == 6
    assert len(res['diff']['before'].strip().splitlines()) == 6 and res['diff']['after'].strip() == ''
    assert n1.all_routes() == before
    res = hostgw(run_module, n1, state='absent')
    assert res['changed'] is True
    assert sorted(res['removed']) == sorted([line(n) for n in mesh.nodes[1:]] + [line(n, 6) for n in mesh.nodes[1:]])
    assert owned(n1) == [] and owned(n1, 6) == []

    def not_owned(routes):
        return dict((f, [r for r in rs if str(r.get('protocol')) != '244']) for f, rs in routes.items())

    assert not_owned(n1.all_routes()) == not_owned(before)
    res = hostgw(run_module, n1, state='absent')
    assert res['changed'] is False and res['removed'] == []


def test_state_absent_other_proto(run_module, mesh):
    n1 = mesh.nodes[0]
    hostgw(run_module, n1, routes=mesh.routes())
    hostgw(run_module, n1, routes=[dict(dest='10.200.0.0/24', via='10.168.0.4')], proto=245)
    res = hostgw(run_module, n1, state='absent', proto=245)
    assert res['removed'] == ['10.200.0.0/24 via 10.168.0.4 dev eth0 proto 245']
    assert owned(n1) == expected(mesh, n1)


def test_owned_blackhole_removed_and_replaced(run_module, mesh):
    """Owned routes that are not unicast (left by hand or by an older tool) are fixed and purged."""
    n1 = mesh.nodes[0]
    n1.ip('route', 'add', 'blackhole', '192.168.2.0/24', 'proto', '244')
    n1.ip('route', 'add', 'blackhole', '192.168.60.0/24', 'proto', '244')
    res = hostgw(run_module, n1, routes=mesh.routes())
    assert res['replaced'] == [line(mesh.nodes[1])]
    assert res['removed'] and '192.168.60.0/24' in res['removed'][0]
    assert owned(n1) == expected(mesh, n1)
    n1.ip('route', 'add', 'blackhole', '192.168.61.0/24', 'proto', '244')
    n1.ip('-6', 'route', 'add', 'blackhole', 'fd00:244:61::/64', 'proto', '244')
    res = hostgw(run_module, n1, state='absent')
    assert len(res['removed']) == 5
    assert owned(n1) == [] and owned(n1, 6) == []


def test_node_ip_finds_uplink(run_module, mesh):
    n2 = mesh.nodes[1]
    res = hostgw(run_module, n2, routes=mesh.routes(v6=True), node_ip=n2.ip4)
    assert res['uplink'] == 'eth0'
    assert res['own_subnets'] == [n2.pod4, n2.pod6]
    assert owned(n2) == expected(mesh, n2) and owned(n2, 6) == expected(mesh, n2, 6)
    res = hostgw(run_module, n2, routes=mesh.routes(v6=True), node_ip=n2.ip6)
    assert res['uplink'] == 'eth0' and res['changed'] is False
    # Non-canonical spelling of the node's IPv6 address still finds it.
    res = hostgw(run_module, n2, routes=mesh.routes(v6=True), node_ip='FD00:168:0:0:0:0:0:2')
    assert res['uplink'] == 'eth0' and res['changed'] is False


def test_node_ip_not_local(run_module, mesh):
    n2 = mesh.nodes[1]
    before = n2.all_routes()
    res = hostgw(run_module, n2, fail=True, routes=mesh.routes(), node_ip='10.168.0.77')
    assert '10.168.0.77' in res['msg'] and 'not an address of this host' in res['msg']
    assert n2.all_routes() == before


def test_every_node_same_list(run_module, mesh):
    for n in mesh.nodes:
        res = hostgw(run_module, n, routes=mesh.routes(v6=True))
        assert res['own_subnets'] == [n.pod4, n.pod6]
        assert owned(n) == expected(mesh, n) and owned(n, 6) == expected(mesh, n, 6)


def _ping(node, src, dst, v6=False):
    cmd = ['ping', '-c1', '-W1', '-I', src, dst]
    if v6:
        cmd.insert(1, '-6')
    return node.exec(*cmd, check=False, timeout=15)


def test_packets_cross_nodes(run_module, mesh, netns_factory):
    """With cni_bridge gateways and the mesh routes, pod-network traffic goes node to node."""
    nodes = mesh.nodes[:3]
    for n in nodes:
        n.sysctl('net.ipv4.ip_forward', 1)
        n.sysctl('net.ipv6.conf.all.forwarding', 1)
        run_module(n, 'cni_bridge', dict(addresses=['%s/24' % n.gw4, '%s/64' % n.gw6]))
    a, b, c = nodes
    # Before the routes exist there is no way across.
    assert _ping(a, a.gw4, b.gw4).returncode != 0
    for n in nodes:
        hostgw(run_module, n, routes=mesh.routes(v6=True, without=(4,)))
    for src, dst in ((a, b), (b, c), (c, a)):
        p = _ping(src, src.gw4, dst.gw4)
        assert p.returncode == 0, p.stdout + p.stderr
        p = _ping(src, src.gw6, dst.gw6, v6=True)
        assert p.returncode == 0, p.stdout + p.stderr

    # A 'pod' behind node B (veth into B's cni0): A's gateway reaches it through B, which forwards.
    pod = netns_factory()
    b.ip('link', 'add', 'vethpod', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod.name)
    b.ip('link', 'set', 'vethpod', 'master', 'cni0', 'up')
    pod.ip('link', 'set', 'eth0', 'up')
    pod.ip('addr', 'add', '192.168.2.2/24', 'dev', 'eth0')
    pod.ip('route', 'add', '192.168.0.0/16', 'via', b.gw4)  # pod network only, no default route
    p = _ping(a, a.gw4, '192.168.2.2')
    assert p.returncode == 0, p.stdout + p.stderr

    # The routes are what carries it: remove A's and the traffic stops.
    hostgw(run_module, a, state='absent')
    assert _ping(a, a.gw4, b.gw4).returncode != 0


def test_metric_zero_dual_stack(run_module, mesh):
    """IPv6 has no metric 0 (the kernel stores 1024): metric=0 must still be idempotent."""
    n1 = mesh.nodes[0]
    res = hostgw(run_module, n1, routes=mesh.routes(v6=True), metric=0)
    assert res['changed'] is True
    assert owned(n1) == expected(mesh, n1) and owned(n1, 6) == expected(mesh, n1, 6)
    res = hostgw(run_module, n1, routes=mesh.routes(v6=True), metric=0)
    assert res['changed'] is False and res['unchanged'] == 6


def test_link_local_next_hop(run_module, mesh):
    n1, n2 = mesh.nodes[0], mesh.nodes[1]
    ll = [a['local'] for a in n2.addrs('eth0', 'inet6') if a['scope'] == 'link'][0]
    wanted = [dict(dest=n2.pod6, via=ll, host='node2')]
    res = hostgw(run_module, n1, routes=wanted)
    assert res['changed'] is True
    assert owned(n1, 6) == [(n2.pod6, ll, 'eth0', 1024)]
    res = hostgw(run_module, n1, routes=wanted)
    assert res['changed'] is False


def test_link_flap(run_module, mesh):
    """Flannel #1434: the kernel drops the routes when the uplink goes down; a re-run puts them back."""
    n1 = mesh.nodes[0]
    n1.sysctl('net.ipv6.conf.eth0.keep_addr_on_down', 1)  # as if a network manager put it back
    hostgw(run_module, n1, routes=mesh.routes(v6=True))
    n1.ip('link', 'set', 'eth0', 'down')
    assert owned(n1) == [] and owned(n1, 6) == []
    n1.ip('link', 'set', 'eth0', 'up')
    res = hostgw(run_module, n1, routes=mesh.routes(v6=True))
    assert res['changed'] is True
    assert owned(n1) == expected(mesh, n1) and owned(n1, 6) == expected(mesh, n1, 6)


def test_uplink_down(run_module, mesh):
    n1 = mesh.nodes[0]
    n1.ip('link', 'set', 'eth0', 'down')
    before = n1.all_routes()
    res = hostgw(run_module, n1, fail=True, routes=mesh.routes())
    assert 'eth0' in res['msg'] and 'down' in res['msg']
    assert n1.all_routes() == before


def test_stale_pod_address_blocks_peer_subnet(run_module, mesh):
    """A node whose cni0 still holds a subnet now leased to a peer: its connected route is named."""
    n1 = mesh.nodes[0]
    n1.ip('link', 'add', 'cni0', 'type', 'bridge')
    n1.ip('link', 'set', 'cni0', 'up')
    n1.ip('addr', 'add', '192.168.2.1/24', 'dev', 'cni0')
    before = n1.all_routes()
    res = hostgw(run_module, n1, fail=True, routes=mesh.routes())
    assert 'peer node2' in res['msg'] and '192.168.2.0/24 dev cni0' in res['msg']
    assert n1.all_routes() == before


def test_other_tables_untouched(run_module, mesh):
    """Only the main table is managed: a proto-244 route in another table is not ours to purge."""
    n1 = mesh.nodes[0]
    n1.ip('route', 'add', '192.168.70.0/24', 'via', '10.168.0.2', 'dev', 'eth0', 'proto', '244', 'table', '100')
    n1.ip('route', 'add', '192.168.2.0/24', 'via', '10.168.0.3', 'dev', 'eth0', 'proto', '244', 'table', '100')
    table100 = n1.routes(4, '100')
    hostgw(run_module, n1, routes=mesh.routes())
    assert owned(n1) == expected(mesh, n1)
    res = hostgw(run_module, n1, routes=mesh.routes())
    assert res['changed'] is False
    hostgw(run_module, n1, state='absent')
    assert n1.routes(4, '100') == table100


SCALE = 1000


def test_scale(run_module, ns):
    """SCALE peers on one /16 segment: all routes in one run, then an idempotent run, then purge."""
    ns.ip('link', 'add', 'eth0', 'type', 'bridge')
    ns.ip('link', 'set', 'eth0', 'up')
    ns.ip('addr', 'add', '10.168.0.1/16', 'dev', 'eth0')
    wanted = [dict(dest='10.%d.%d.0/24' % (100 + i // 256, i % 256), via='10.168.%d.%d' % (1 + i // 250, 1 + i % 250),
                   host='peer%d' % i) for i in range(SCALE)]
    res = hostgw(run_module, ns, routes=wanted)
    assert len(res['added']) == SCALE
    assert len(ns.owned(4)) == SCALE
    res = hostgw(run_module, ns, routes=wanted)
    assert res['changed'] is False and res['unchanged'] == SCALE
    res = hostgw(run_module, ns, routes=wanted[:SCALE // 2])
    assert len(res['removed']) == SCALE - SCALE // 2
    assert len(ns.owned(4)) == SCALE // 2


def test_kernel_refusal_reports_progress(run_module, mesh):
    """The L2 check passes but the kernel refuses (connected route gone): the failure says what was done."""
    n1 = mesh.nodes[0]
    n1.ip('route', 'del', '10.168.0.0/24', 'dev', 'eth0')
    res = hostgw(run_module, n1, fail=True, routes=mesh.routes())
    assert 'failed to add 192.168.2.0/24 via 10.168.0.2 dev eth0 proto 244' in res['msg']
    assert res['added'] == [] and res['changed'] is False
    assert owned(n1) == []
