# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Peers on other L2 segments on real hosts (issue 18 item 6), on the molecule/ssh-cross-subnet lab: Debian 13 with
systemd and NetworkManager, over SSH with sudo; hostgw-sxa1 and hostgw-sxa2 on segment A, hostgw-sxb1 on segment B,
hostgw-sxr routing between the node networks (no route to any pod network) and counting the UDP 8472 packets it
forwards. Kernel state is read with `podman exec`; nothing here runs Ansible except where a test says so.

- the pairs: plain routes within a segment, the VXLAN device, its FDB and neighbor entries and onlink routes across;
- pods through the real CNI plugins: the router's VXLAN counter stands still for the same-segment pair and grows for
  the cross-segment pairs;
- a host outside the mesh (the router) that sends VXLAN to a node gets nothing into a pod, and without the guard it
  would (the test can fail); the role's next run puts the guard back;
- a real reboot (podman restart, no Ansible): the device, entries, routes and rules are back from the boot unit, a
  new pod reaches the pods across segments and check mode reports 0 changed;
- the repair timer puts back a deleted FDB entry, neighbor entry and the whole device;
- NetworkManager leaves the device unmanaged.
"""

import ipaddress
import json
import time

import pytest

from conftest import NM_REASON_USER, recap, wait_for

DEV = 'hostgw.1'
PORT = 8472
INTERVAL = 10


def _segment(ip):
    return str(ipaddress.ip_network(ip + '/24', strict=False))


def _mac(ip):
    return '0e:68:' + ':'.join('%02x' % b for b in ipaddress.ip_address(ip).packed)


class Node:
    """What a node is in the mesh, read back from its kernel: its pod subnet (from cni0's gateway address), its
    VTEP address (the subnet's network address) and the MAC every peer derives from its node IP."""

    def __init__(self, host):
        self.host = host
        self.ip = host.ip
        self.segment = _segment(host.ip)
        gateway = [a for a in host.bridge_addrs() if '.' in a][0]
        self.subnet = str(ipaddress.ip_interface(gateway).network)
        self.vtep = self.subnet.split('/', maxsplit=1)[0]
        self.mac = _mac(host.ip)

    def __repr__(self):
        return self.host.name


def vxlan_state(host):
    """The VXLAN device's attributes and every FDB and neighbor entry on it, as sorted tuples."""
    links = host.jsn('ip', '-json', '-d', 'link', 'show', 'dev', DEV) if host.sh(
        'ip', 'link', 'show', 'dev', DEV, check=False).returncode == 0 else []
    if not links:
        return None
    link = links[0]
    info = link['linkinfo']['info_data']
    fdb = sorted((e['mac'], e.get('dst'), e.get('state', '')) for e in host.jsn('bridge', '-json', 'fdb', 'show', 'dev', DEV)
                 if e.get('dst'))
    neigh = sorted((n['dst'], n.get('lladdr'), ','.join(n.get('state', [])))
                   for n in host.jsn('ip', '-json', 'neigh', 'show', 'dev', DEV))
    return {
        'kind': link['linkinfo']['info_kind'], 'vni': info.get('id'), 'port': info.get('port'),
        'local': info.get('local'), 'link': info.get('link'), 'learning': info.get('learning'),
        'mac': link['address'], 'mtu': link['mtu'], 'alias': link.get('ifalias'), 'up': 'UP' in link['flags'],
        'fdb': fdb, 'neigh': neigh,
    }


def router_count(router):
    """Packets of UDP 8472 the router forwarded (its own lab table, made by prepare.yml)."""
    chain = router.jsn('nft', '-j', 'list', 'chain', 'ip', 'lab', 'vxcount', empty='{}')
    for item in chain['nftables']:
        rule = item.get('rule')
        if rule and rule.get('comment') == 'lab-vxlan-count':
            return [e['counter']['packets'] for e in rule['expr'] if 'counter' in e][0]
    raise AssertionError('no lab-vxlan-count rule on %s: %s' % (router, chain))


@pytest.fixture(scope='module')
def router(lab):
    if not lab['routers']:
        pytest.skip('not a two-segment lab: run with HOSTGW_HOSTS_SCENARIO=ssh-cross-subnet (scripts/test-hosts.sh)')
    return lab['routers'][0]


@pytest.fixture(scope='module')
def mesh(hosts, router):
    nodes = {h.name: Node(h) for h in hosts}
    segments = sorted({n.segment for n in nodes.values()})
    # The lab is what this module says it is: two segments, one of them with two nodes.
    assert len(nodes) == 3 and len(segments) == 2, nodes
    return nodes


def a_pair(mesh):
    """(a1, a2, b1): two nodes on one segment and the node on the other."""
    by_seg = {}
    for n in sorted(mesh.values(), key=lambda n: n.host.name):
        by_seg.setdefault(n.segment, []).append(n)
    pair = [v for v in by_seg.values() if len(v) == 2][0]
    alone = [v for v in by_seg.values() if len(v) == 1][0]
    return pair[0], pair[1], alone[0]


def expected(node, mesh):
    """(routes, fdb, neigh) hostgw should hold on ``node``: direct within its segment, VXLAN across."""
    routes, fdb, neigh = [], [], []
    for peer in mesh.values():
        if peer is node:
            continue
        if peer.segment == node.segment:
            routes.append((peer.subnet, peer.ip, 'eth0'))
        else:
            routes.append((peer.subnet, peer.vtep, DEV))
            fdb.append((peer.mac, peer.ip, 'permanent'))
            neigh.append((peer.vtep, peer.mac, 'PERMANENT'))
    return sorted(routes), sorted(fdb), sorted(neigh)


def node_state(node):
    return {
        'routes': node.host.owned_routes(),
        'vxlan': vxlan_state(node.host),
        'bridge': node.host.bridge_addrs(),
        'firewall': node.host.firewall(),
        'ip_forward': node.host.sysctl('net/ipv4/ip_forward'),
        'cni0_mtu': node.host.jsn('ip', '-json', 'link', 'show', 'dev', 'cni0')[0]['mtu'],
    }


def assert_mesh_state(node, mesh):
    routes, fdb, neigh = expected(node, mesh)
    got = node_state(node)
    assert got['routes'] == routes, (node, got['routes'], routes)
    vx = got['vxlan']
    assert vx, '%s has no %s' % (node, DEV)
    assert (vx['kind'], vx['vni'], vx['port'], vx['local'], vx['link'], vx['learning']) == \
        ('vxlan', 1, PORT, node.ip, 'eth0', False), (node, vx)
    assert vx['mac'] == node.mac and vx['mtu'] == 1450 and vx['alias'] == 'hostgw: managed vxlan' and vx['up'], vx
    assert vx['fdb'] == fdb and vx['neigh'] == neigh, (node, vx, fdb, neigh)
    assert got['cni0_mtu'] == 1450, got
    # The onlink flag on every route through the device, the VTEP address on it.
    for r in node.host.jsn('ip', '-json', 'route', 'show', 'dev', DEV, 'proto', '244'):
        assert 'onlink' in r.get('flags', []), r
    assert node.vtep in node.host.out('ip', '-4', '-o', 'addr', 'show', 'dev', DEV), node
    conflist = node.host.jsn('cat', '/etc/cni/net.d/10-hostgw.conflist', empty='{}')
    assert conflist['plugins'][0]['mtu'] == 1450, conflist
    return got


def test_direct_within_a_segment_vxlan_across(mesh):
    for node in mesh.values():
        assert_mesh_state(node, mesh)


def test_pods_talk_and_only_cross_segment_pairs_cross_the_router_as_vxlan(mesh, router):
    a1, a2, b1 = a_pair(mesh)
    ips = {n.host.name: n.host.ensure_pod('p1') for n in mesh.values()}
    before = router_count(router)
    assert a1.host.pod_ping('p1', ips[a2.host.name]) == {ips[a2.host.name]: True}
    assert a2.host.pod_ping('p1', ips[a1.host.name]) == {ips[a1.host.name]: True}
    same = router_count(router)
    assert same == before, 'same-segment pods went through the router as VXLAN (%d -> %d)' % (before, same)
    for x, y in ((a1, b1), (b1, a1), (a2, b1), (b1, a2)):
        assert x.host.pod_ping('p1', ips[y.host.name]) == {ips[y.host.name]: True}, (x, y)
    after = router_count(router)
    print('router UDP %d packets: %d before, %d after the same-segment pings, %d after the cross-segment pings' % (
        PORT, before, same, after))
    assert after >= same + 8, (before, same, after)   # 4 pings, each at least one echo and one reply


def _pod_counter(host, pod, saddr):
    """Packets from ``saddr`` that reached the pod (an nftables counter inside the pod's namespace)."""
    out = host.out('ip', 'netns', 'exec', pod, 'nft', '-j', 'list', 'chain', 'ip', 'labin', 'in')
    for item in json.loads(out)['nftables']:
        rule = item.get('rule')
        if rule:
            return [e['counter']['packets'] for e in rule['expr'] if 'counter' in e][0]
    raise AssertionError(out)


def test_vxlan_from_outside_the_mesh_reaches_no_pod(mesh, router, ansible):
    """The router is on both segments and not in the mesh: it builds its own VXLAN device towards a1 (a1's MAC is
    public knowledge, derived from its IP) and sends to a1's pod from an address of b1's pod subnet, which strict
    rp_filter on a1 lets in from the device. With hostgw's guard nothing reaches the pod; with the guard's chain
    flushed it does (the test can fail); the role's next run on a1 alone puts the guard back."""
    a1, b1 = a_pair(mesh)[0], a_pair(mesh)[2]
    pod_ip = a1.host.ensure_pod('p1')
    spoof = str(ipaddress.ip_network(b1.subnet)[77])
    for cmd in (['add', 'table', 'ip', 'labin'],
                ['add', 'chain', 'ip', 'labin', 'in', '{ type filter hook input priority 0 ; }'],
                ['flush', 'chain', 'ip', 'labin', 'in'],
                ['add', 'rule', 'ip', 'labin', 'in', 'ip', 'saddr', spoof, 'counter']):
        a1.host.sh('ip', 'netns', 'exec', 'p1', 'nft', *cmd)
    uplink = [a['ifname'] for a in router.jsn('ip', '-json', '-4', 'addr', 'show')
              for i in a.get('addr_info', []) if ipaddress.ip_address(i['local']) in ipaddress.ip_network(a1.segment)][0]
    local = [i['local'] for a in router.jsn('ip', '-json', '-4', 'addr', 'show', 'dev', uplink) for i in a['addr_info']][0]
    router.sh('ip', 'link', 'add', 'evil', 'type', 'vxlan', 'id', '1', 'dstport', str(PORT), 'local', local,
              'dev', uplink, 'nolearning')
    try:
        router.sh('ip', 'link', 'set', 'evil', 'up')
        router.sh('ip', 'addr', 'add', spoof + '/32', 'dev', 'evil')
        router.sh('bridge', 'fdb', 'append', a1.mac, 'dev', 'evil', 'dst', a1.ip, 'self', 'permanent')
        router.sh('ip', 'neigh', 'replace', a1.vtep, 'lladdr', a1.mac, 'dev', 'evil', 'nud', 'permanent')
        router.sh('ip', 'route', 'add', a1.subnet, 'via', a1.vtep, 'dev', 'evil', 'onlink')

        def attack():
            router.sh('ping', '-c', '3', '-W', '1', '-i', '0.2', '-I', spoof, pod_ip, check=False)
            return _pod_counter(a1.host, 'p1', spoof)

        assert attack() == 0, 'a VXLAN packet from outside the mesh reached a pod on %s' % a1
        # The control: without the guard's rules the same packets arrive.
        guard = [line for line in a1.host.firewall() if 'dport %d' % PORT in line]
        assert guard, a1.host.firewall()
        a1.host.sh('nft', 'flush', 'chain', 'ip', 'hostgw', 'input')
        got = attack()
        assert got > 0, 'without the guard the router should get through: this test could not fail'
        print('without the guard %d packets from outside the mesh reached the pod on %s' % (got, a1))
        proc = ansible('playbooks/site.yml', '--limit', a1.host.name)
        counts = recap(proc.stdout)
        assert counts[a1.host.name]['failed'] == 0 and counts[a1.host.name]['changed'] > 0, proc.stdout[-3000:]
        assert guard == [line for line in a1.host.firewall() if 'dport %d' % PORT in line]
        assert attack() == got, 'the guard is back, yet packets from outside the mesh reach the pod'
    finally:
        router.sh('ip', 'link', 'delete', 'evil', check=False)
        a1.host.sh('ip', 'netns', 'exec', 'p1', 'nft', 'delete', 'table', 'ip', 'labin', check=False)
    # The mesh's own VXLAN traffic passes the guard.
    b1_ip = b1.host.ensure_pod('p1')
    assert a1.host.pod_ping('p1', b1_ip) == {b1_ip: True}


@pytest.fixture(scope='module')
def rebooted(mesh):
    """Reboot a1 (direct to a2, VXLAN to b1) for real; its state before and after, read from its kernel."""
    a1 = a_pair(mesh)[0]
    before = assert_mesh_state(a1, mesh)
    boots = a1.host.reboot()
    after = node_state(a1)
    # The pod of before the reboot died with it; release its address as kubelet's runtime would (host-local keeps it).
    a1.host.sh('python3', '/usr/local/bin/cni_pod.py', 'del', 'p1')
    return {'node': a1, 'before': before, 'after': after, 'boots': boots}


def test_reboot_brings_back_device_entries_routes_and_rules(rebooted, mesh):
    node, before, after = rebooted['node'], rebooted['before'], rebooted['after']
    assert node.host.out('cat', '/proc/1/comm') == 'systemd'
    assert after == before, (before, after)
    unit = node.host.show('hostgw-restore.service', 'Result', 'ExecMainStatus', 'InactiveExitTimestampMonotonic')
    assert unit['Result'] == 'success' and unit['ExecMainStatus'] == '0', unit
    assert int(unit['InactiveExitTimestampMonotonic']) >= rebooted['boots'][1] > 0, (unit, rebooted['boots'])
    journal = node.host.journal('hostgw-restore.service', rebooted['boots'][2])
    print(journal)
    assert 'vxlan create' in journal, journal


def test_after_the_reboot_a_new_pod_reaches_both_segments(rebooted, mesh):
    node = rebooted['node']
    pod = 'rb-%d' % (time.time() * 1000 % 10 ** 9)
    ip = node.host.pod_add(pod)[pod]['ip4']
    for peer in mesh.values():
        if peer is node:
            continue
        remote = peer.host.ensure_pod('p1')
        assert node.host.pod_ping(pod, remote) == {remote: True}, peer
        assert peer.host.pod_ping('p1', ip) == {ip: True}, peer


def test_check_mode_after_the_reboot_reports_nothing_changed(rebooted, hosts, ansible):
    proc = ansible('--check', '--diff', 'playbooks/site.yml')
    counts = recap(proc.stdout)
    assert sorted(counts) == sorted(h.name for h in hosts), proc.stdout[-2000:]
    for name, c in counts.items():
        assert c['changed'] == 0 and c['failed'] == 0 and c['unreachable'] == 0, (name, c, proc.stdout[-3000:])


@pytest.fixture
def repairing(mesh, ansible):
    proc = ansible('playbooks/site.yml', '-e', 'hostgw_repair_interval=%ds' % INTERVAL)
    assert all(c['failed'] == 0 for c in recap(proc.stdout).values()), proc.stdout[-3000:]
    yield a_pair(mesh)[2]
    proc = ansible('playbooks/site.yml')
    assert all(c['failed'] == 0 for c in recap(proc.stdout).values()), proc.stdout[-3000:]


def test_repair_timer_puts_back_entries_and_the_device(repairing, mesh):
    """b1 has only VXLAN peers: delete one FDB entry and one neighbor entry, then the whole device (which takes
    its routes with it); each time the timer's run brings everything back within the interval, no Ansible."""
    node = repairing
    want = assert_mesh_state(node, mesh)
    mac, dst = want['vxlan']['fdb'][0][:2]
    vtep = want['vxlan']['neigh'][-1][0]
    for damage in ([['bridge', 'fdb', 'del', mac, 'dev', DEV, 'dst', dst, 'self'],
                    ['ip', 'neigh', 'del', vtep, 'dev', DEV]],
                   [['ip', 'link', 'delete', DEV]]):
        since = int(node.host.out('date', '+%s'))
        for cmd in damage:
            node.host.sh(*cmd)
        t0 = time.monotonic()
        assert node_state(node) != want, 'the damage did not take: this test proves nothing'
        back = wait_for(lambda: node_state(node) == want, timeout=INTERVAL + 15, step=0.5)
        took = time.monotonic() - t0
        print('repaired %s on %s in %.1f s (interval %d s)' % (damage, node, took, INTERVAL))
        assert back, (node_state(node), want)
        assert took <= INTERVAL + 5, took
        journal = wait_for(lambda: node.host.journal('hostgw-repair.service', since), timeout=10)
        print(journal)
        assert 'vxlan' in journal, journal
    pod = node.host.ensure_pod('p1')
    for peer in mesh.values():
        if peer is not node:
            remote = peer.host.ensure_pod('p1')
            assert peer.host.pod_ping('p1', pod) == {pod: True}, peer
            assert node.host.pod_ping('p1', remote) == {remote: True}, peer


def test_networkmanager_leaves_the_device_alone(mesh):
    for node in mesh.values():
        host = node.host
        assert host.out('systemctl', 'is-active', 'NetworkManager') == 'active', host
        state, reason = host.nm_state(DEV)
        assert state.startswith('10 ') and reason.startswith(NM_REASON_USER + ' '), (host, state, reason)


def test_a_pod_mtu_change_names_the_running_pods_that_keep_the_old_one(mesh, ansible):
    """hostgw_mtu changed with pods running: the bridge takes the new MTU at once and the role names, per node, the
    running pods' veths that keep the old one; the default comes back the same way."""
    veths = {}
    for node in mesh.values():
        node.host.ensure_pod('p1')
        veths[node.host.name] = sorted(x['ifname'] for x in node.host.jsn('ip', '-json', 'link', 'show', 'master', 'cni0'))
        assert veths[node.host.name], node
    for mtu, extra in ((1400, ['-e', '{"hostgw_mtu": 1400}']), (1450, [])):
        proc = ansible('playbooks/site.yml', *extra)
        assert all(c['failed'] == 0 for c in recap(proc.stdout).values()), proc.stdout[-3000:]
        for node in mesh.values():
            said = [line for line in proc.stdout.splitlines() if 'keep theirs until they are restarted' in line
                    and 'MTU on %s is now %d' % (node.host.name, mtu) in line]
            assert len(said) == 1 and all(v in said[0] for v in veths[node.host.name]), (node, said, proc.stdout[-3000:])
            assert node.host.jsn('ip', '-json', 'link', 'show', 'dev', 'cni0')[0]['mtu'] == mtu, node


def test_teardown_removes_the_device_entries_routes_rules_and_files_and_nothing_else(mesh, ansible):
    """The last test (the lab is destroyed next): playbooks/teardown.yml over SSH. Gone from every node: hostgw.1 with
    its FDB and neighbor entries, every route and next-hop object of protocol 244, cni0, hostgw's nftables tables,
    its files and units. Kept: the lab's own underlay route and unit, and a foreign link planted on b1."""
    b1 = a_pair(mesh)[2]
    b1.host.sh('ip', 'link', 'add', 'lab-foreign0', 'type', 'bridge')
    underlay = {n.host.name: [r for r in n.host.jsn('ip', '-json', 'route', 'show', 'table', 'main')
                              if r.get('gateway', '').endswith('.253')] for n in mesh.values()}
    assert all(underlay.values()), underlay
    proc = ansible('playbooks/teardown.yml')
    assert all(c['failed'] == 0 for c in recap(proc.stdout).values()), proc.stdout[-3000:]
    for node in mesh.values():
        host = node.host
        left = []
        if vxlan_state(host) is not None:
            left.append('%s: %s' % (DEV, vxlan_state(host)))
        left += ['route %s' % (r,) for r in host.owned_routes()]
        left += ['route6 %s' % r['dst'] for r in host.jsn('ip', '-json', '-6', 'route', 'show', 'proto', '244')]
        left += ['nexthop %s' % n['id'] for n in host.jsn('ip', '-json', 'nexthop', 'show')
                 if str(n.get('protocol')) == '244']
        if host.sh('ip', 'link', 'show', 'dev', 'cni0', check=False).returncode == 0:
            left.append('cni0')
        left += host.firewall()
        files = host.sh('sh', '-c', 'find /etc/hostgw -type f 2>/dev/null; ls -d /etc/cni/net.d/10-hostgw.conflist '
                        '/etc/systemd/system/hostgw-* /etc/sysctl.d/*hostgw* /etc/NetworkManager/conf.d/90-hostgw.conf '
                        '2>/dev/null', check=False).stdout.split()
        left += ['file %s' % f for f in files]
        assert left == [], (host, left)
        still = [r for r in host.jsn('ip', '-json', 'route', 'show', 'table', 'main') if r.get('gateway', '').endswith('.253')]
        assert still == underlay[host.name], (host, still)
        assert host.out('systemctl', 'is-enabled', 'lab-underlay-route.service') == 'enabled'
    assert b1.host.sh('ip', 'link', 'show', 'dev', 'lab-foreign0', check=False).returncode == 0
