# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pod-to-pod throughput and latency, direct against encapsulated, between two network-namespace nodes.

    python bench/vxlan_traffic.py [--seconds 5] [--pings 200]      # needs iperf3 (apt install iperf3)

Two nodes on one segment (a bridge namespace; eth0 10.168.0.1/24 and 10.168.0.2/24, MTU 1500), each with a pod
namespace behind its bridge cni0. The same pair is measured twice, with the real modules (``hostgw_route`` with
``cross_subnet: vxlan``, ``cni_bridge``): once direct (both node prefixes /24: plain host-gw routes), once
encapsulated (node2's prefix given as /32 in the plan, so the symmetric rule sends both directions through VXLAN;
the pods' MTU then 1450, as the role sets it). Same wire, same CPU: the difference is VXLAN alone. All namespaces are
deleted at the end; nothing is connected to the machine's own namespace.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
P = 'hgwt-%d-' % os.getpid()


def sh(*argv, data=None, check=True):
    p = subprocess.run([str(a) for a in argv], input=data, capture_output=True, text=True, check=False)
    if check and p.returncode != 0:
        raise RuntimeError('%s: %s%s' % (' '.join(str(a) for a in argv), p.stdout, p.stderr))
    return p.stdout


def module(ns, name, args, python, tmp):
    path = os.path.join(tmp, '%s-%s.json' % (ns, name))
    with open(path, 'w') as f:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, f)
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, '.cache', 'collections'))
    p = subprocess.run(['ip', 'netns', 'exec', ns, python, os.path.join(REPO, 'plugins', 'modules', name + '.py'), path],
                       capture_output=True, text=True, env=env, check=False)
    res = json.loads(p.stdout)
    if res.get('failed'):
        raise RuntimeError('%s on %s: %s' % (name, ns, res.get('msg')))
    return res


def setup():
    made = []

    def ns(name):
        full = P + name
        sh('ip', 'netns', 'add', full)
        made.append(full)
        sh('ip', '-n', full, 'link', 'set', 'lo', 'up')
        return full
    seg = ns('seg')
    sh('ip', '-n', seg, 'link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0')
    sh('ip', '-n', seg, 'link', 'set', 'br0', 'up')
    nodes, pods = {}, {}
    for i in (1, 2):
        n, pod = ns('node%d' % i), ns('pod%d' % i)
        sh('ip', '-n', seg, 'link', 'add', 'p%d' % i, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n)
        sh('ip', '-n', seg, 'link', 'set', 'p%d' % i, 'master', 'br0', 'up')
        sh('ip', '-n', n, 'link', 'set', 'eth0', 'up')
        sh('ip', '-n', n, 'addr', 'add', '10.168.0.%d/24' % i, 'dev', 'eth0')
        sh('ip', 'netns', 'exec', n, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1')
        sh('ip', '-n', n, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod)
        sh('ip', '-n', pod, 'link', 'set', 'eth0', 'up')
        sh('ip', '-n', pod, 'addr', 'add', '10.244.%d.2/24' % i, 'dev', 'eth0')
        nodes[i], pods[i] = n, pod
    return made, nodes, pods


def converge(nodes, pods, encapsulated, python, tmp):
    members = dict(('node%d' % i, dict(subnet='10.244.%d.0/24' % i, node_ip='10.168.0.%d' % i, node_prefix=24))
                   for i in (1, 2))
    if encapsulated:
        members['node2']['node_prefix'] = 32
    mtu = 1450 if encapsulated else 1500
    for i, n in nodes.items():
        module(n, 'cni_bridge', dict(bridge='cni0', addresses=['10.244.%d.1/24' % i], mtu=mtu), python, tmp)
        sh('ip', '-n', n, 'link', 'set', 'veth0', 'master', 'cni0', 'mtu', mtu, 'up')
        sh('ip', '-n', pods[i], 'link', 'set', 'eth0', 'mtu', mtu)
        sh('ip', '-n', pods[i], 'route', 'replace', '10.244.0.0/16', 'via', '10.244.%d.1' % i)
        res = module(n, 'hostgw_route', dict(members=members, uplink='eth0', cross_subnet='vxlan', nexthop_objects=False),
                     python, tmp)
        assert res['vxlan']['encapsulated'] == (['node%d' % (3 - i)] if encapsulated else []), res['vxlan']


def measure(pods, seconds, pings):
    server = subprocess.Popen(['ip', 'netns', 'exec', pods[1], 'iperf3', '-s', '-1', '-B', '10.244.1.2'],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        out = json.loads(sh('ip', 'netns', 'exec', pods[2], 'iperf3', '-J', '-c', '10.244.1.2', '-t', seconds))
    finally:
        server.wait(timeout=30)
    gbps = out['end']['sum_received']['bits_per_second'] / 1e9
    ping = sh('ip', 'netns', 'exec', pods[2], 'ping', '-q', '-c', pings, '-i', '0.01', '10.244.1.2')
    rtt = re.search(r'= ([0-9.]+)/([0-9.]+)/([0-9.]+)/', ping)
    return gbps, float(rtt.group(2)) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seconds', type=int, default=5)
    ap.add_argument('--pings', type=int, default=200)
    ap.add_argument('--python', default=os.path.join(REPO, '.venv', 'bin', 'python'))
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix='hgwt-')
    made, nodes, pods = setup()
    try:
        rows = []
        for encapsulated in (False, True):
            converge(nodes, pods, encapsulated, a.python, tmp)
            gbps, rtt_us = measure(pods, a.seconds, a.pings)
            rows.append(('encapsulated (VXLAN, pod MTU 1450)' if encapsulated else 'direct (host-gw route, pod MTU 1500)',
                         gbps, rtt_us))
        print('pod to pod on one segment, iperf3 TCP %d s, ping -i 0.01 x %d, kernel %s, %d cores'
              % (a.seconds, a.pings, os.uname().release, os.cpu_count()))
        print('| path | throughput (Gbit/s) | mean RTT (us) |')
        print('|---|---|---|')
        for name, gbps, rtt in rows:
            print('| %s | %.2f | %.0f |' % (name, gbps, rtt))
    finally:
        for name in reversed(made):
            subprocess.run(['ip', 'netns', 'del', name], check=False)


if __name__ == '__main__':
    main()
