# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of the firewall kernel tests: foreign firewall state, readers of nft/iptables state, a two-node mesh with
pods and an outside host, and a UDP listener that reports the source address it sees.

Everything lives in namespaces the tests create (conftest's ``netns_factory``); no default route is ever added.
"""

from __future__ import annotations

import re
import subprocess
import time

from conftest import bridge_and_pod

NETWORK = '10.244.0.0/16'
NETWORK6 = 'fd00:10:244::/56'
BACKENDS = ('nftables', 'iptables')

# Foreign state of other tools, as they would leave it: kube-proxy's nft table, Docker's rules through iptables-nft
# (tables ip nat / ip filter with a DOCKER chain), firewalld's inet table, plain foreign iptables/ip6tables rules.
FOREIGN_NFT = '''table ip kube-proxy {
\tchain services {
\t\tip daddr 10.96.0.10 udp dport 53 dnat to 10.244.9.9
\t}
\tchain nat-postrouting {
\t\ttype nat hook postrouting priority srcnat + 10; policy accept;
\t\tmeta mark & 0x00004000 == 0x00004000 masquerade
\t}
}
table inet firewalld {
\tchain filter_FORWARD {
\t\ttype filter hook forward priority filter + 10; policy accept;
\t\tct state established,related accept
\t}
}
'''
FOREIGN_IPT = [
    ('iptables', '-t nat -N DOCKER'),
    ('iptables', '-t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE'),
    ('iptables', '-t nat -A DOCKER -i docker0 -j RETURN'),
    ('iptables', '-t filter -N DOCKER'),
    ('iptables', '-t filter -A FORWARD -o docker0 -j DOCKER'),
    ('iptables', '-t filter -A FORWARD -s 172.30.0.0/16 -j ACCEPT'),
    ('ip6tables', '-t nat -A POSTROUTING -s fd00:172:30::/64 -j MASQUERADE'),
    ('ip6tables', '-t filter -A FORWARD -s fd00:172:30::/64 -j ACCEPT'),
]


def plant_foreign(ns):
    p = subprocess.run(['ip', 'netns', 'exec', ns.name, 'nft', '-f', '-'], input=FOREIGN_NFT, capture_output=True,
                       text=True, timeout=30, check=False)
    assert p.returncode == 0, p.stderr
    for cmd, rule in FOREIGN_IPT:
        ns.exec(cmd, '-w', *rule.split())


def ruleset(ns):
    """``nft -s list ruleset`` (every table of every tool, no counters)."""
    return ns.exec('nft', '-s', 'list', 'ruleset').stdout


def tables(ns):
    return sorted(line[len('table '):].strip() for line in ns.exec('nft', 'list', 'tables').stdout.splitlines() if line.strip())


def nft_table(ns, family):
    p = ns.exec('nft', 'list', 'table', family, 'hostgw', check=False)
    return p.stdout if p.returncode == 0 else None


def save(ns, cmd='iptables'):
    """``iptables-save`` lines without comments and counters."""
    out = ns.exec('%s-save' % cmd).stdout.splitlines()
    return [re.sub(r'\[\d+:\d+\]', '[0:0]', x) for x in out if not x.startswith('#')]


def hostgw_lines(lines):
    return [x for x in lines if 'HOSTGW' in x or 'hostgw' in x]


def foreign(ns):
    """Everything of other tools: their own nft tables (listed one by one) and the iptables-save lines not of hostgw
    (iptables-nft's tables ip/ip6 nat and filter are compared through iptables-save: hostgw's iptables chains live
    there)."""
    shared = ('ip nat', 'ip filter', 'ip6 nat', 'ip6 filter', 'ip hostgw', 'ip6 hostgw')
    out = dict(('nft ' + t, ns.exec('nft', '-s', 'list', 'table', *t.split()).stdout)
               for t in tables(ns) if t not in shared)
    out['iptables'] = [x for x in save(ns) if x not in hostgw_lines(save(ns))]
    out['ip6tables'] = [x for x in save(ns, 'ip6tables') if x not in hostgw_lines(save(ns, 'ip6tables'))]
    return out


# ---- a two-node mesh with pods and an outside host -------------------------------------------------------------

class Mesh2:
    """Nodes A (10.168.0.1, pods 10.244.1.0/24) and B (10.168.0.2, pods 10.244.2.0/24) and an outside host
    10.168.0.100 (outside the cluster network) on one underlay bridge; one pod namespace per node."""

    def __init__(self, netns_factory):
        self.seg = netns_factory()
        self.seg.ip('link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0')
        self.seg.ip('link', 'set', 'br0', 'up')
        self.nodes, self.pods = {}, {}
        for i, name in ((1, 'a'), (2, 'b'), (100, 'out')):
            n = netns_factory()
            self.seg.ip('link', 'add', 'p%d' % i, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.name)
            self.seg.ip('link', 'set', 'p%d' % i, 'master', 'br0', 'up')
            n.ip('link', 'set', 'eth0', 'up')
            n.ip('addr', 'add', '10.168.0.%d/24' % i, 'dev', 'eth0')
            n.ip('addr', 'add', 'fd00:168::%d/64' % i, 'dev', 'eth0', 'nodad')
            self.nodes[name] = n
        self.ip = {'a': '10.168.0.1', 'b': '10.168.0.2', 'out': '10.168.0.100'}
        self.subnet = {'a': '10.244.1.0/24', 'b': '10.244.2.0/24'}
        self.pod_ip = {'a': '10.244.1.2', 'b': '10.244.2.2'}
        self.ip6 = {'a': 'fd00:168::1', 'b': 'fd00:168::2', 'out': 'fd00:168::100'}
        self.subnet6 = {'a': 'fd00:10:244:1::/64', 'b': 'fd00:10:244:2::/64'}
        self.pod_ip6 = {'a': 'fd00:10:244:1::2', 'b': 'fd00:10:244:2::2'}
        for name, i in (('a', 1), ('b', 2)):
            # the pod reaches the outside through its node: a route to the underlay, never a default route
            self.pods[name] = bridge_and_pod(
                netns_factory, self.nodes[name], '10.244.%d.1/24' % i, 'fd00:10:244:%d::1/64' % i,
                '%s/24' % self.pod_ip[name], '%s/64' % self.pod_ip6[name], ['10.244.0.0/16', '10.168.0.0/24'],
                ['fd00:10:244::/56', 'fd00:168::/64'])
        self.nodes['a'].ip('route', 'add', '10.244.2.0/24', 'via', '10.168.0.2', 'dev', 'eth0')
        self.nodes['b'].ip('route', 'add', '10.244.1.0/24', 'via', '10.168.0.1', 'dev', 'eth0')
        self.nodes['a'].ip('-6', 'route', 'add', 'fd00:10:244:2::/64', 'via', 'fd00:168::2', 'dev', 'eth0')
        self.nodes['b'].ip('-6', 'route', 'add', 'fd00:10:244:1::/64', 'via', 'fd00:168::1', 'dev', 'eth0')
        for n in list(self.nodes.values()) + list(self.pods.values()):
            for fam in (4, 6):
                assert not [r for r in n.routes(fam) if r.get('dst') == 'default'], 'no default route in a test namespace'


_LISTENER = r'''
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(('::', int(sys.argv[1])))      # IPv4 peers show as ::ffff:a.b.c.d
s.settimeout(float(sys.argv[2]))
print('ready', flush=True)
try:
    data, peer = s.recvfrom(2048)
    print(peer[0].replace('::ffff:', '', 1) if peer[0].startswith('::ffff:') else peer[0], data.decode(), flush=True)
except socket.timeout:
    print('timeout', flush=True)
'''

_SENDER = r'''
import socket, sys
s = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(5):
    s.sendto(b'hello', (sys.argv[1], int(sys.argv[2])))
'''


def source_seen(sender, receiver, dst, port=9999, timeout=5.0):
    """Send UDP from namespace ``sender`` to ``dst``:``port``; return the source address ``receiver`` saw
    (or 'timeout')."""
    listener = subprocess.Popen(['ip', 'netns', 'exec', receiver.name, 'python3', '-c', _LISTENER, str(port), str(timeout)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert listener.stdout.readline().strip() == 'ready', listener.stderr.read()
        deadline = time.time() + timeout
        # a few sends: the first packet may wait for ARP on the way
        subprocess.run(['ip', 'netns', 'exec', sender.name, 'python3', '-c', _SENDER, dst, str(port)],
                       capture_output=True, timeout=30, check=True)
        out, _err = listener.communicate(timeout=max(1, deadline - time.time() + 2))
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()
    words = out.split()
    return words[0] if words else 'timeout'
