# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""hostgw_route with ``cross_subnet: vxlan`` against the kernel: nodes on two L2 segments joined by a router.

Segment A (a bridge in its own namespace): a1 10.168.0.1/24, a2 10.168.0.2/24, and a4 10.168.2.4/16, which sees
the whole of 10.168.0.0/16 as on-link while a1 and a2 see only their /24 (asymmetric masks: a second subnet on the
same wire, reached by the /24 nodes through the router). Segment B: b1 10.168.1.1/24. The router has
10.168.0.254/24 and 10.168.2.254/24 on A, 10.168.1.254/24 on B, forwards between them and has no route to any pod
network, and counts the UDP 8472 packets it forwards. Each node has a "pod" namespace behind its bridge cni0
(10.244.i.2, gateway 10.244.i.1), and ``rp_filter=1`` everywhere.

Every address is inside these namespaces; nothing is connected to the machine's own namespace and no namespace has
a default route.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from conftest import bridge_and_pod, sh

NODES = {
    # name: (segment, node IP/prefix, pod index)
    'a1': ('A', '10.168.0.1/24', 1),
    'a2': ('A', '10.168.0.2/24', 2),
    'b1': ('B', '10.168.1.1/24', 3),
    'a4': ('A', '10.168.2.4/16', 4),
}
ROUTER = {'A': ['10.168.0.254/24', '10.168.2.254/24'], 'B': ['10.168.1.254/24']}


class Lab:
    def __init__(self, nodes, pods, router, members, segments):
        self.nodes, self.pods, self.router, self.members = nodes, pods, router, members
        self.segments = segments

    def vxlan_packets(self):
        """UDP 8472 packets the router has forwarded (its nftables counter)."""
        out = self.router.exec('nft', '-j', 'list', 'counter', 'inet', 'lab', 'vxlan').stdout
        for item in json.loads(out)['nftables']:
            if 'counter' in item:
                return item['counter']['packets']
        raise AssertionError(out)


@pytest.fixture
def lab(netns_factory):
    segs = {}
    for seg in ('A', 'B'):
        s = netns_factory()
        s.ip('link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0')
        s.ip('link', 'set', 'br0', 'up')
        segs[seg] = s
    router = netns_factory()
    router.sysctl('net.ipv4.ip_forward', 1)
    for seg, addrs in ROUTER.items():
        segs[seg].ip('link', 'add', 'r%s' % seg, 'type', 'veth', 'peer', 'name', 'eth%s' % seg, 'netns', router.name)
        segs[seg].ip('link', 'set', 'r%s' % seg, 'master', 'br0', 'up')
        router.ip('link', 'set', 'eth%s' % seg, 'up')
        for a in addrs:
            router.ip('addr', 'add', a, 'dev', 'eth%s' % seg)
    rules = ('add table inet lab\nadd counter inet lab vxlan\n'
             'add chain inet lab count8472 { type filter hook forward priority 0; }\n'
             'add rule inet lab count8472 udp dport 8472 counter name "vxlan"\n')
    subprocess.run(['ip', 'netns', 'exec', router.name, 'nft', '-f', '-'], input=rules, text=True, check=True)
    nodes, pods, members = {}, {}, {}
    for name, (seg, cidr, i) in sorted(NODES.items()):
        n = netns_factory()
        for key in ('all', 'default'):
            n.sysctl('net.ipv4.conf.%s.rp_filter' % key, 1)
        n.sysctl('net.ipv4.ip_forward', 1)
        segs[seg].ip('link', 'add', 'p%s' % name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.name)
        segs[seg].ip('link', 'set', 'p%s' % name, 'master', 'br0', 'up')
        n.ip('link', 'set', 'eth0', 'up')
        n.ip('addr', 'add', cidr, 'dev', 'eth0')
        n.sysctl('net.ipv4.conf.eth0.rp_filter', 1)
        ip, plen = cidr.split('/')
        gw = '10.168.%s.254' % ip.split('.')[2]
        # The other node networks through the router (no default route anywhere).
        for other in ('10.168.0.0/24', '10.168.1.0/24', '10.168.2.0/24'):
            if plen == '24' and not other.startswith('.'.join(ip.split('.')[:3]) + '.'):
                n.ip('route', 'add', other, 'via', gw)
        if plen == '16':
            n.ip('route', 'add', '10.168.1.0/24', 'via', '10.168.2.254')
        # IPv6 on the node network too (a /64 per segment, used only by dual-stack tests), forwarding on.
        n.sysctl('net.ipv6.conf.all.forwarding', 1)
        n.ip('addr', 'add', 'fd00:168:%s::%d/64' % (seg.lower(), i), 'dev', 'eth0', 'nodad')
        # The node's bridge and its "pod".
        pod = bridge_and_pod(netns_factory, n, '10.244.%d.1/24' % i, 'fd00:244:%d::1/64' % i, '10.244.%d.2/24' % i,
                             'fd00:244:%d::2/64' % i, ['10.244.0.0/16'], ['fd00:244::/40'])
        nodes[name], pods[name] = n, pod
        members[name] = dict(subnet='10.244.%d.0/24' % i, node_ip=ip, node_prefix=int(plen))
    return Lab(nodes, pods, router, members, list(segs.values()))


def converge(run_module, lab, name, **kw):
    args = dict(members=lab.members, uplink='eth0', cross_subnet='vxlan', nexthop_objects=False)
    args.update(kw)
    return run_module(lab.nodes[name], 'hostgw_route', args)


def routes_of(node):
    return sorted((r['dst'], r.get('gateway'), r['dev'], 'onlink' in r.get('flags', [])) for r in node.owned())


def ping(lab, src, dst):
    i = NODES[dst][2]
    return lab.pods[src].exec('ping', '-c', '2', '-W', '2', '-i', '0.2', '10.244.%d.2' % i, check=False).returncode == 0


def test_direct_where_adjacent_vxlan_where_not(run_module, lab):
    results = dict((name, converge(run_module, lab, name)) for name in sorted(NODES))
    for name, res in results.items():
        assert res['changed'] is True
    a1 = results['a1']['vxlan']
    assert a1['direct'] == ['a2'] and a1['encapsulated'] == ['a4', 'b1'] and a1['device'] == 'hostgw.1'
    # a4 (/16) would send to a1 and a2 directly, they (/24) could not answer directly: encapsulated both ways.
    assert results['a4']['vxlan']['direct'] == [] and results['a4']['vxlan']['encapsulated'] == ['a1', 'a2', 'b1']
    assert routes_of(lab.nodes['a1']) == [('10.244.2.0/24', '10.168.0.2', 'eth0', False),
                                          ('10.244.3.0/24', '10.244.3.0', 'hostgw.1', True),
                                          ('10.244.4.0/24', '10.244.4.0', 'hostgw.1', True)]
    # The device as the kernel has it: Flannel's wire format, nolearning, local, dev, MTU, MAC, VTEP address.
    link = lab.nodes['a1'].link('hostgw.1')
    info = link['linkinfo']['info_data']
    assert (info['id'], info['port'], info['local'], info.get('learning')) == (1, 8472, '10.168.0.1', False)
    assert link['mtu'] == 1450 and link['address'] == '0e:68:0a:a8:00:01' and link['ifalias'] == 'hostgw: managed vxlan'
    assert lab.nodes['a1'].cidrs('hostgw.1') == ['10.244.1.0/32']
    fdb = sh('ip', 'netns', 'exec', lab.nodes['a1'].name, 'bridge', '-j', 'fdb', 'show', 'dev', 'hostgw.1').stdout
    entries = sorted((e['mac'], e.get('dst'), 'permanent' in e.get('state', '')) for e in json.loads(fdb) if e.get('dst'))
    assert entries == [('0e:68:0a:a8:01:01', '10.168.1.1', True), ('0e:68:0a:a8:02:04', '10.168.2.4', True)]
    neigh = lab.nodes['a1'].ipj('neigh', 'show', 'dev', 'hostgw.1')
    assert sorted((e['dst'], e['lladdr'], e['state']) for e in neigh) == [
        ('10.244.3.0', '0e:68:0a:a8:01:01', ['PERMANENT']), ('10.244.4.0', '0e:68:0a:a8:02:04', ['PERMANENT'])]
    # Pods reach pods: across the router encapsulated (the router counts UDP 8472), on the segment directly.
    before = lab.vxlan_packets()
    assert ping(lab, 'a1', 'a2') and ping(lab, 'a2', 'a1')
    assert lab.vxlan_packets() == before, 'a same-segment pair went through the router as VXLAN'
    for src, dst in (('a1', 'b1'), ('b1', 'a1'), ('a2', 'b1'), ('b1', 'a4'), ('a4', 'b1')):
        before = lab.vxlan_packets()
        assert ping(lab, src, dst), '%s -> %s' % (src, dst)
        assert lab.vxlan_packets() > before, '%s -> %s did not cross the router as VXLAN' % (src, dst)
    # Asymmetric masks on one wire, rp_filter=1: encapsulated both ways, so both directions pass.
    assert ping(lab, 'a1', 'a4') and ping(lab, 'a4', 'a1') and ping(lab, 'a2', 'a4')
    # Idempotent.
    for name in sorted(NODES):
        again = converge(run_module, lab, name)
        assert again['changed'] is False and again['vxlan']['changes'] == [], (name, again['vxlan'], again['added'])


@pytest.mark.parametrize('objects', [False, True], ids=['plain', 'nexthop-objects'])
def test_check_mode_and_diff_tell_the_truth(run_module, lab, objects):
    a1 = lab.nodes['a1']
    args = dict(members=lab.members, uplink='eth0', cross_subnet='vxlan', nexthop_objects=objects)
    res = run_module(a1, 'hostgw_route', args, check_mode=True, diff=True)
    assert res['changed'] is True and a1.link('hostgw.1') is None and a1.owned() == []
    assert res['vxlan']['encapsulated'] == ['a4', 'b1']
    nhid = 'nhid 244000002 ' if objects else ''
    assert '10.244.3.0/24 %svia 10.244.3.0 dev hostgw.1 proto 244 onlink' % nhid in res['added'], res['added']
    assert 'vxlan fdb 0e:68:0a:a8:01:01 dev hostgw.1 dst 10.168.1.1 self permanent' in res['diff']['after']
    if objects:
        assert 'id 244000002 via 10.244.3.0 dev hostgw.1 proto 244 onlink' in res['nexthops_added'], res
    real = run_module(a1, 'hostgw_route', args, diff=True)
    assert sorted(real['added']) == sorted(res['added']) and real['vxlan']['changes'] == res['vxlan']['changes']
    assert real['nexthops_added'] == res['nexthops_added'] and real['diff']['after'] == res['diff']['after']


def test_departed_peer_purged_and_device_gone_with_the_last_encapsulated_peer(run_module, lab):
    a1 = lab.nodes['a1']
    converge(run_module, lab, 'a1')
    without_b1 = dict((k, v) for k, v in lab.members.items() if k != 'b1')
    res = converge(run_module, lab, 'a1', members=without_b1)
    assert res['changed'] and res['vxlan']['encapsulated'] == ['a4']
    assert [e['dst'] for e in a1.ipj('neigh', 'show', 'dev', 'hostgw.1')] == ['10.244.4.0']
    assert ('10.244.3.0/24', '10.244.3.0', 'hostgw.1', True) not in routes_of(a1)
    only_a = dict((k, v) for k, v in lab.members.items() if k in ('a1', 'a2'))
    res = converge(run_module, lab, 'a1', members=only_a)
    assert res['vxlan']['device'] is None and a1.link('hostgw.1') is None
    assert routes_of(a1) == [('10.244.2.0/24', '10.168.0.2', 'eth0', False)]


def test_node_moving_segment_switches_without_a_gap_in_routes(run_module, lab):
    """b1 is renumbered into segment A's /24 (its plan entry changes): a1 replaces its route in place, from the
    VXLAN device to the uplink, then drops b1's FDB and neighbor entries."""
    a1 = lab.nodes['a1']
    converge(run_module, lab, 'a1')
    moved = dict(lab.members, b1=dict(lab.members['b1'], node_ip='10.168.0.3'))
    res = converge(run_module, lab, 'a1', members=moved)
    assert res['replaced'] == ['10.244.3.0/24 via 10.168.0.3 dev eth0 proto 244'] and res['added'] == []
    assert res['removed'] == []
    assert [e['dst'] for e in a1.ipj('neigh', 'show', 'dev', 'hostgw.1')] == ['10.244.4.0']


def test_foreign_vxlan_on_the_port_and_foreign_link_of_the_name_are_refused(run_module, lab):
    a1 = lab.nodes['a1']
    a1.ip('link', 'add', 'flannel.1', 'type', 'vxlan', 'id', '1', 'dstport', '8472', 'dev', 'eth0', 'nolearning')
    res = run_module(a1, 'hostgw_route', dict(members=lab.members, uplink='eth0', cross_subnet='vxlan'), fail=True)
    assert 'flannel.1' in res['msg'] and 'uses UDP port 8472' in res['msg']
    assert a1.link('hostgw.1') is None and a1.owned() == []
    a1.ip('link', 'del', 'flannel.1')
    a1.ip('link', 'add', 'hostgw.1', 'type', 'veth', 'peer', 'name', 'not-hostgw')
    res = run_module(a1, 'hostgw_route', dict(members=lab.members, uplink='eth0', cross_subnet='vxlan'), fail=True)
    assert 'hostgw does not own' in res['msg'] and a1.link('hostgw.1')['linkinfo']['info_kind'] == 'veth'


def test_teardown_removes_device_and_routes(run_module, lab):
    a1 = lab.nodes['a1']
    converge(run_module, lab, 'a1')
    res = run_module(a1, 'hostgw_route', dict(state='absent'))
    assert res['changed'] and a1.link('hostgw.1') is None and a1.owned() == []
    assert run_module(a1, 'hostgw_route', dict(state='absent'))['changed'] is False


def test_fail_mode_keeps_refusing_and_names_the_option(run_module, lab):
    res = run_module(lab.nodes['a1'], 'hostgw_route', dict(members=lab.members, uplink='eth0'), fail=True)
    assert 'not on-link' in res['msg'] and 'cross_subnet=vxlan' in res['msg'] and lab.nodes['a1'].owned() == []


@pytest.mark.parametrize('objects', [False, True], ids=['plain', 'nexthop-objects'])
def test_boot_restore_rebuilds_device_entries_and_routes_and_repairs_drift(run_module, lab, tmp_path, objects):
    """The boot program (the vendored copy, no PYTHONPATH) replays what hostgw_route applied: after a "reboot" (the
    device, the owned routes and next-hop objects gone) and after drift (one FDB entry deleted), adding only."""
    a1 = lab.nodes['a1']
    rt = converge(run_module, lab, 'a1', nexthop_objects=objects)
    converge(run_module, lab, 'b1', nexthop_objects=objects)
    assert rt['boot_state']['vxlan']['peers'] == [dict(host='a4', node_ip='10.168.2.4', subnet='10.244.4.0/24'),
                                                  dict(host='b1', node_ip='10.168.1.1', subnet='10.244.3.0/24')]
    res = run_module(a1, 'hostgw_restore', dict(state_dir=str(tmp_path / 'state'), routes=rt['boot_state']))
    python, prog, state = res['command']
    want, want_nh = routes_of(a1), _nexthops(a1)
    assert bool(want_nh) == objects and all(r.get('nhid') for r in a1.owned()) == objects, (want_nh, a1.owned())
    a1.ip('link', 'del', 'hostgw.1')
    a1.ip('nexthop', 'flush', 'proto', '244')     # (with the routes through them: iproute2 cannot flush those)
    a1.ip('route', 'flush', 'proto', '244')
    boot = a1.exec('env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', python, prog, state, check=False)
    assert boot.returncode == 0, boot.stdout + boot.stderr
    assert routes_of(a1) == want and a1.link('hostgw.1')['ifalias'] == 'hostgw: managed vxlan'
    assert _nexthops(a1) == want_nh and all(r.get('nhid') for r in a1.owned()) == objects
    assert ping(lab, 'a1', 'b1')
    a1.exec('bridge', 'fdb', 'del', '0e:68:0a:a8:01:01', 'dev', 'hostgw.1', 'dst', '10.168.1.1')
    assert not ping(lab, 'a1', 'b1')
    boot = a1.exec('env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', python, prog, state, check=False)
    assert boot.returncode == 0 and 'fdb 0e:68:0a:a8:01:01' in boot.stdout + boot.stderr, boot.stdout + boot.stderr
    assert ping(lab, 'a1', 'b1')
    again = a1.exec('env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', python, prog, state, check=False)
    assert again.returncode == 0 and 'fdb' not in again.stdout + again.stderr
    assert converge(run_module, lab, 'a1', nexthop_objects=objects)['changed'] is False


def _pod_counter(lab, name, src):
    """Packets from ``src`` the pod of ``name`` received (an nftables counter in the pod's namespace)."""
    pod = lab.pods[name]
    if pod.exec('nft', 'list', 'table', 'inet', 'probe', check=False).returncode != 0:
        rules = ('add table inet probe\nadd counter inet probe got\n'
                 'add chain inet probe in { type filter hook input priority 0; }\n'
                 'add rule inet probe in ip saddr %s counter name "got"\n' % src)
        subprocess.run(['ip', 'netns', 'exec', pod.name, 'nft', '-f', '-'], input=rules, text=True, check=True)
    out = json.loads(pod.exec('nft', '-j', 'list', 'counter', 'inet', 'probe', 'got').stdout)
    return next(x['counter']['packets'] for x in out['nftables'] if 'counter' in x)


@pytest.mark.parametrize('backend', ['nftables', 'iptables'])
def test_vxlan_from_outside_the_mesh_reaches_no_pod(run_module, lab, netns_factory, backend):
    """A host on segment B that is not in the mesh builds its own VXLAN device towards a1 and sends to a1's pod from
    an address of b1's pod subnet (which passes rp_filter on a1). With hostgw's guard nothing arrives; without it (the
    guard removed by the same module), it does: the test can fail. The mesh's own VXLAN traffic passes the guard."""
    seg_b = None
    if backend == 'iptables':
        # Another tool's earlier ACCEPT in INPUT: hostgw's guard goes first, so VXLAN from outside is still dropped.
        lab.nodes['a1'].exec('iptables', '-w', '-A', 'INPUT', '-i', 'eth0', '-j', 'ACCEPT')
    for name in sorted(NODES):
        converge(run_module, lab, name)
        node_ip = lab.members[name]['node_ip']
        run_module(lab.nodes[name], 'hostgw_firewall', dict(
            network='10.244.0.0/16', subnet=lab.members[name]['subnet'], firewall=backend, vxlan_port=8472,
            vxlan_sources=[m['node_ip'] for m in lab.members.values()]))
        if NODES[name][0] == 'B':
            seg_b = node_ip
    assert seg_b
    intruder = netns_factory()
    # The intruder's uplink on segment B, plugged into the same bridge as b1 (found through b1's veth peer).
    seg = [n for n in lab.segments if n.ip('link', 'show', 'pb1', check=False).returncode == 0][0]
    seg.ip('link', 'add', 'pintruder', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', intruder.name)
    seg.ip('link', 'set', 'pintruder', 'master', 'br0', 'up')
    intruder.ip('link', 'set', 'eth0', 'up')
    intruder.ip('addr', 'add', '10.168.1.66/24', 'dev', 'eth0')
    intruder.ip('route', 'add', '10.168.0.0/24', 'via', '10.168.1.254')
    intruder.ip('link', 'add', 'evil', 'type', 'vxlan', 'id', '1', 'dstport', '8472', 'local', '10.168.1.66',
                'dev', 'eth0', 'nolearning')
    intruder.ip('link', 'set', 'evil', 'up')
    intruder.ip('addr', 'add', '10.244.3.77/32', 'dev', 'evil')
    intruder.exec('bridge', 'fdb', 'append', '0e:68:0a:a8:00:01', 'dev', 'evil', 'dst', '10.168.0.1', 'self', 'permanent')
    intruder.ip('neigh', 'replace', '10.244.1.0', 'lladdr', '0e:68:0a:a8:00:01', 'dev', 'evil', 'nud', 'permanent')
    intruder.ip('route', 'add', '10.244.1.0/24', 'via', '10.244.1.0', 'dev', 'evil', 'onlink')

    def attack():
        intruder.exec('ping', '-c', '3', '-W', '1', '-i', '0.2', '-I', '10.244.3.77', '10.244.1.2', check=False)
        return _pod_counter(lab, 'a1', '10.244.3.77')

    assert attack() == 0, 'a VXLAN packet from outside the mesh reached a pod'
    assert ping(lab, 'b1', 'a1') and ping(lab, 'a1', 'b1')       # the mesh's own VXLAN traffic passes
    again = run_module(lab.nodes['a1'], 'hostgw_firewall', dict(
        network='10.244.0.0/16', subnet=lab.members['a1']['subnet'], firewall=backend, vxlan_port=8472,
        vxlan_sources=[m['node_ip'] for m in lab.members.values()]))
    assert again['changed'] is False
    off = run_module(lab.nodes['a1'], 'hostgw_firewall', dict(network='10.244.0.0/16', subnet=lab.members['a1']['subnet'],
                                                              firewall=backend))
    assert off['changed'] is True
    assert attack() > 0, 'without the guard the intruder should get through: this test could not fail'


def dual_stack(run_module, lab):
    """The lab's members with IPv6 pod subnets and node IPs, converged on every node (plain routes)."""
    members = {}
    for name, m in lab.members.items():
        seg, _cidr, i = NODES[name]
        members[name] = dict(m, subnet6='fd00:244:%d::/64' % i, node_ip6='fd00:168:%s::%d' % (seg.lower(), i))
    for name in sorted(NODES):
        converge(run_module, lab, name, members=members)
    return members


def test_dual_stack_pods_cross_segments_over_the_ipv4_underlay(run_module, lab):
    """IPv6 pod subnets follow the pair's decision: direct via the peer's IPv6 node IP on the segment, through the
    same VXLAN device (IPv4 underlay) to the other segment, with the IPv6 VTEP address as the onlink next hop."""
    members = dual_stack(run_module, lab)
    a1 = lab.nodes['a1']
    v6 = sorted((r['dst'], r.get('gateway'), r['dev'], 'onlink' in r.get('flags', [])) for r in a1.owned(6))
    assert v6 == [('fd00:244:2::/64', 'fd00:168:a::2', 'eth0', False),
                  ('fd00:244:3::/64', 'fd00:244:3::', 'hostgw.1', True),
                  ('fd00:244:4::/64', 'fd00:244:4::', 'hostgw.1', True)]
    assert 'fd00:244:1::/128' in a1.cidrs('hostgw.1')
    for src, dst in (('a1', 'a2'), ('a1', 'b1'), ('b1', 'a2'), ('a4', 'a1')):
        i = NODES[dst][2]
        p = lab.pods[src].exec('ping', '-6', '-c', '2', '-W', '2', '-i', '0.2', 'fd00:244:%d::2' % i, check=False)
        assert p.returncode == 0, '%s -> %s over IPv6: %s' % (src, dst, p.stdout + p.stderr)
    for name in sorted(NODES):
        assert converge(run_module, lab, name, members=members)['changed'] is False
    # a2 becomes a /32 in the plan: a1 and a2 go encapsulated both ways. IPv6 refuses a plain replacement onto an
    # onlink gateway the old route covers; hostgw puts a host route to the gateway on the device first, so both
    # families are replaced in place: a route monitor sees no deletion of either route (it would with delete + add).
    apart = dict(members, a2=dict(members['a2'], node_prefix=32))
    monitor = subprocess.Popen(['ip', '-n', a1.name, 'monitor', 'route'], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        res = converge(run_module, lab, 'a1', members=apart)
        time.sleep(0.5)
    finally:
        monitor.terminate()
        events = monitor.communicate(timeout=10)[0].splitlines()
    assert sorted(res['replaced']) == ['10.244.2.0/24 via 10.244.2.0 dev hostgw.1 proto 244 onlink',
                                       'fd00:244:2::/64 via fd00:244:2:: dev hostgw.1 proto 244 onlink']
    assert [e for e in events if e.startswith('fd00:244:2::/64 via fd00:244:2:: dev hostgw.1')], events
    assert not [e for e in events if e.startswith('Deleted') and ('/64' in e or '/24' in e)], events
    assert [e for e in events if e.startswith('Deleted fd00:244:2:: dev hostgw.1')], events   # the /128 helper came and went
    assert sorted(r['dst'] for r in a1.owned(6)) == ['fd00:244:2::/64', 'fd00:244:3::/64', 'fd00:244:4::/64']
    converge(run_module, lab, 'a2', members=apart)
    for family, dst in (('-4', '10.244.2.2'), ('-6', 'fd00:244:2::2')):
        p = lab.pods['a1'].exec('ping', family, '-c', '2', '-W', '2', '-i', '0.2', dst, check=False)
        assert p.returncode == 0, 'a1 -> a2 encapsulated (%s): %s' % (family, p.stdout + p.stderr)
    back = converge(run_module, lab, 'a1', members=members)
    assert sorted(back['replaced']) == ['10.244.2.0/24 via 10.168.0.2 dev eth0 proto 244',
                                        'fd00:244:2::/64 via fd00:168:a::2 dev eth0 proto 244']
    assert converge(run_module, lab, 'a1', members=members)['changed'] is False


def _nexthops(node):
    """hostgw's next-hop objects on ``node``: {gateway: (dev, onlink)}."""
    return dict((n['gateway'], (n['dev'], 'onlink' in n.get('flags', []))) for n in node.ipj('nexthop', 'show')
                if str(n.get('protocol')) == '244' and n.get('gateway'))


def test_next_hop_objects_carry_the_encapsulated_routes_too(run_module, lab):
    """With nexthop_objects, every peer's route goes through an object: direct peers via their node IP on the
    uplink, encapsulated peers via their VTEP on the device, onlink, over both families. Switching the mode, a move
    onto the device and back, and a deleted device are all converged with the routes replaced in place."""
    members = dual_stack(run_module, lab)
    a1 = lab.nodes['a1']
    monitor = subprocess.Popen(['ip', '-n', a1.name, 'monitor', 'route'], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        for name in sorted(NODES):
            res = converge(run_module, lab, name, members=members, nexthop_objects=True)
            assert res['changed'] is True and res['removed'] == [], res
        time.sleep(0.5)
    finally:
        monitor.terminate()
        events = monitor.communicate(timeout=10)[0].splitlines()
    assert not [e for e in events if e.startswith('Deleted')], events      # plain -> objects: replaced in place
    assert _nexthops(a1) == {'10.168.0.2': ('eth0', False), 'fd00:168:a::2': ('eth0', False),
                             '10.244.3.0': ('hostgw.1', True), 'fd00:244:3::': ('hostgw.1', True),
                             '10.244.4.0': ('hostgw.1', True), 'fd00:244:4::': ('hostgw.1', True)}
    assert all(r.get('nhid') for family in (4, 6) for r in a1.owned(family)), a1.owned(4) + a1.owned(6)
    for src, dst in (('a1', 'b1'), ('b1', 'a1'), ('a1', 'a2'), ('a4', 'a1')):
        i = NODES[dst][2]
        for family, addr in (('-4', '10.244.%d.2' % i), ('-6', 'fd00:244:%d::2' % i)):
            p = lab.pods[src].exec('ping', family, '-c', '2', '-W', '2', '-i', '0.2', addr, check=False)
            assert p.returncode == 0, '%s -> %s (%s) through next-hop objects: %s' % (src, dst, family, p.stdout)
    for name in sorted(NODES):
        assert converge(run_module, lab, name, members=members, nexthop_objects=True)['changed'] is False
    # a2 moves apart: its objects on the uplink go, new ones on the device (IPv6 through the helper route).
    apart = dict(members, a2=dict(members['a2'], node_prefix=32))
    res = converge(run_module, lab, 'a1', members=apart, nexthop_objects=True)
    assert sorted(res['replaced']) == ['10.244.2.0/24 nhid %d via 10.244.2.0 dev hostgw.1 proto 244 onlink' % n
                                       for n in [_nhid(a1, '10.244.2.0/24')]] + \
        ['fd00:244:2::/64 nhid %d via fd00:244:2:: dev hostgw.1 proto 244 onlink' % _nhid(a1, 'fd00:244:2::/64', 6)]
    assert len(res['nexthops_added']) == 2 and len(res['nexthops_removed']) == 2, res
    assert _nexthops(a1)['fd00:244:2::'] == ('hostgw.1', True) and '10.168.0.2' not in _nexthops(a1)
    converge(run_module, lab, 'a2', members=apart, nexthop_objects=True)
    p = lab.pods['a1'].exec('ping', '-6', '-c', '2', '-W', '2', '-i', '0.2', 'fd00:244:2::2', check=False)
    assert p.returncode == 0, p.stdout
    assert converge(run_module, lab, 'a1', members=apart, nexthop_objects=True)['changed'] is False
    # The device deleted under it (its objects and routes go with it): the next run makes all of it again.
    a1.ip('link', 'delete', 'hostgw.1')
    assert [r for r in a1.owned(4) if r['dev'] == 'hostgw.1'] == []
    again = converge(run_module, lab, 'a1', members=apart, nexthop_objects=True)
    assert again['changed'] is True and not again.get('failed') and len(again['added']) == 6, again
    assert _nexthops(a1)['10.244.3.0'] == ('hostgw.1', True)
    assert converge(run_module, lab, 'a1', members=apart, nexthop_objects=True)['changed'] is False
    # And back to plain routes: replaced in place, every object of hostgw's gone.
    back = converge(run_module, lab, 'a1', members=apart, nexthop_objects=False)
    assert back['removed'] == [] and len(back['nexthops_removed']) == 6 and _nexthops(a1) == {}, back


def _nhid(node, dst, family=4):
    return [r for r in node.owned(family) if r['dst'] == dst][0]['nhid']


def test_ipv6_underlay_ipv6_only_pods(run_module, lab):
    """An IPv6-only mesh (IPv6 node IPs and pod subnets): the pair decision on the IPv6 node networks, the device with
    an IPv6 `local` and MTU uplink - 70, FDB entries to IPv6 remotes, the MAC from the IPv6 node IP, and pods that
    reach each other across the router, whose UDP 8472 counter grows (IPv6 packets)."""
    lab.router.sysctl('net.ipv6.conf.all.forwarding', 1)
    for seg in ('a', 'b'):
        lab.router.ip('addr', 'add', 'fd00:168:%s::254/64' % seg, 'dev', 'eth%s' % seg.upper(), 'nodad')
    members = {}
    for name, (seg, _cidr, i) in NODES.items():
        other = 'b' if seg == 'A' else 'a'
        lab.nodes[name].ip('route', 'add', 'fd00:168:%s::/64' % other, 'via', 'fd00:168:%s::254' % seg.lower())
        members[name] = dict(subnet='fd00:244:%d::/64' % i, node_ip='fd00:168:%s::%d' % (seg.lower(), i),
                             node_prefix=64)
    results = dict((name, converge(run_module, lab, name, members=members)) for name in sorted(NODES))
    a1, b1 = lab.nodes['a1'], lab.nodes['b1']
    assert results['a1']['vxlan']['direct'] == ['a2', 'a4'] and results['a1']['vxlan']['encapsulated'] == ['b1']
    assert results['b1']['vxlan']['encapsulated'] == ['a1', 'a2', 'a4']
    info = a1.link('hostgw.1')['linkinfo']['info_data']
    assert info.get('local6', info.get('local')) == 'fd00:168:a::1', info
    assert a1.link('hostgw.1')['mtu'] == a1.link('eth0')['mtu'] - 70
    fdb = json.loads(sh('ip', 'netns', 'exec', a1.name, 'bridge', '-j', 'fdb', 'show', 'dev', 'hostgw.1').stdout)
    assert [(e['mac'], e['dst']) for e in fdb if e.get('dst')] == [(b1.link('hostgw.1')['address'], 'fd00:168:b::3')]
    assert sorted((r['dst'], r.get('gateway'), r['dev']) for r in a1.owned(6)) == [
        ('fd00:244:2::/64', 'fd00:168:a::2', 'eth0'), ('fd00:244:3::/64', 'fd00:244:3::', 'hostgw.1'),
        ('fd00:244:4::/64', 'fd00:168:a::4', 'eth0')]
    before = lab.vxlan_packets()
    for src, dst in (('a1', 'a2'), ('a1', 'b1'), ('b1', 'a4')):
        i = NODES[dst][2]
        p = lab.pods[src].exec('ping', '-6', '-c', '2', '-W', '2', '-i', '0.2', '-s', '1300', 'fd00:244:%d::2' % i,
                               check=False)
        assert p.returncode == 0, '%s -> %s over the IPv6 underlay: %s' % (src, dst, p.stdout + p.stderr)
    assert lab.vxlan_packets() >= before + 8
    for name in sorted(NODES):
        assert converge(run_module, lab, name, members=members)['changed'] is False
