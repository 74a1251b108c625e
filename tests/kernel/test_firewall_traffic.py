# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Packets through hostgw_firewall's rules, on both backends: the source address a UDP listener sees.

Node A and node B (bridge, gateway address, one pod namespace each, routes to each other's pod subnet via the node
IPs) and an outside host on the same underlay segment, outside the cluster network; all namespaces of this test.
A pod on A reaching the outside host is seen as A's node IP (masqueraded); a pod on A reaching the pod on B is seen
with its own address (not NATed). Before the module runs and after state=absent, the outside host sees the pod's
own address: the rules under test, not something else, make the difference.
"""

from __future__ import annotations

import pytest

from firewall_helpers import BACKENDS, NETWORK, NETWORK6, Mesh2, plant_foreign, source_seen


@pytest.mark.parametrize('backend', BACKENDS)
def test_pod_egress_masqueraded_and_pod_to_pod_not(run_module, netns_factory, backend):
    m = Mesh2(netns_factory)
    a, b, out = m.nodes['a'], m.nodes['b'], m.nodes['out']
    pod_a, pod_b = m.pods['a'], m.pods['b']
    for n in (a, b):
        plant_foreign(n)                     # kube-proxy, firewalld, Docker rules present on the nodes
        n.sysctl('net.ipv4.ip_forward', 0)   # the module turns it on
        n.sysctl('net.ipv6.conf.all.forwarding', 0)
        assert n.exec('sysctl', '-n', 'net.ipv4.ip_forward').stdout.strip() == '0'
    # Docker-style FORWARD policy DROP on B's iptables: the iptables backend's accept must carry the traffic there
    if backend == 'iptables':
        b.exec('iptables', '-w', '-P', 'FORWARD', 'DROP')

    for name, n in (('a', a), ('b', b)):
        res = run_module(n, 'hostgw_firewall', dict(network=NETWORK, subnet=m.subnet[name], network6=NETWORK6,
                                                    subnet6=m.subnet6[name], forwarding=True, firewall=backend))
        assert res['changed'] is True and res['backend'] == backend
        assert 'net.ipv4.ip_forward = 1' in res['actions'] and 'net.ipv6.conf.all.forwarding = 1' in res['actions']
        assert n.exec('sysctl', '-n', 'net.ipv4.ip_forward').stdout.strip() == '1'

    # pod A -> outside host: masqueraded to A's node IP
    assert source_seen(pod_a, out, m.ip['out']) == m.ip['a']
    # pod A -> pod B and back: the pods' own addresses
    assert source_seen(pod_a, pod_b, m.pod_ip['b']) == m.pod_ip['a']
    assert source_seen(pod_b, pod_a, m.pod_ip['a']) == m.pod_ip['b']
    # node B's pod -> outside: B's node IP
    assert source_seen(pod_b, out, m.ip['out']) == m.ip['b']
    # IPv6 the same: egress masqueraded to the node's IPv6 address, pod to pod unNATed
    assert source_seen(pod_a, out, m.ip6['out']) == m.ip6['a']
    assert source_seen(pod_a, pod_b, m.pod_ip6['b']) == m.pod_ip6['a']

    # absent: no NAT any more, the outside host sees the pod address again (forwarding stays on)
    run_module(a, 'hostgw_firewall', dict(state='absent'))
    assert source_seen(pod_a, out, m.ip['out']) == m.pod_ip['a']
    assert source_seen(pod_a, out, m.ip6['out']) == m.pod_ip6['a']


def test_control_without_hostgw_no_masquerade(run_module, netns_factory):
    """The same mesh with forwarding on but no hostgw rules: the outside host sees the pod's own address."""
    m = Mesh2(netns_factory)
    for n in (m.nodes['a'], m.nodes['b']):
        n.sysctl('net.ipv4.ip_forward', 1)
        n.sysctl('net.ipv6.conf.all.forwarding', 1)
    assert source_seen(m.pods['a'], m.nodes['out'], m.ip['out']) == m.pod_ip['a']
    assert source_seen(m.pods['a'], m.nodes['out'], m.ip6['out']) == m.pod_ip6['a']
    assert source_seen(m.pods['a'], m.pods['b'], m.pod_ip['b']) == m.pod_ip['a']
