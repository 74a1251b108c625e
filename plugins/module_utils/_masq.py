# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure, I/O-free rendering of hostgw's packet-filter rules (Flannel's --ip-masq, in chains of our own).

Rules are rendered exactly as ``iptables -S`` prints them, so the current state can be compared line by line.
"""

from __future__ import annotations

import ipaddress

__metaclass__ = type  # pylint: disable=invalid-name

NAT_CHAIN = 'HOSTGW-POSTRTG'
FWD_CHAIN = 'HOSTGW-FWD'
#: The jump rules hostgw appends to the built-in chains (table, chain, rule spec as iptables -S prints it).
JUMPS = (
    ('nat', 'POSTROUTING', '-m comment --comment hostgw-masq -j %s' % NAT_CHAIN),
    ('filter', 'FORWARD', '-m comment --comment hostgw-forward -j %s' % FWD_CHAIN),
)
MULTICAST = {4: '224.0.0.0/4', 6: 'ff00::/8'}


class MasqError(Exception):
    pass


def _net(text, what, version):
    try:
        net = ipaddress.ip_network(str(text).strip(), strict=True)
    except ValueError:
        raise MasqError('%s %r is not a network in CIDR form' % (what, text))
    if net.version != version:
        raise MasqError('%s %s is not IPv%d' % (what, net, version))
    return str(net)


def render(version, network, subnet, masquerade=True, forward=True, random_fully=True):
    """Return ``{(table, chain): [rule lines]}`` for one family, in ``iptables -S`` form."""
    n = _net(network, 'network', version)
    s = _net(subnet, 'subnet', version)
    if not ipaddress.ip_network(s).subnet_of(ipaddress.ip_network(n)):
        raise MasqError('subnet %s is not inside network %s' % (s, n))
    a = '-A %s ' % NAT_CHAIN
    masq = '-j MASQUERADE --random-fully' if random_fully else '-j MASQUERADE'
    nat = []
    if masquerade:
        nat = [
            a + '-m mark --mark 0x4000/0x4000 -j RETURN',          # kube-proxy marked: kube-proxy masquerades
            a + '-s %s -d %s -j RETURN' % (s, n),                  # pod -> cluster: no NAT
            a + '-s %s -d %s -j RETURN' % (n, s),                  # cluster -> this node's pods: no NAT
            a + '! -s %s -d %s -j RETURN' % (n, s),                # outside -> this node's pods: no NAT
            a + '-s %s ! -d %s %s' % (n, MULTICAST[version], masq),  # cluster -> outside: masquerade
            a + '! -s %s -d %s %s' % (n, n, masq),                 # outside -> cluster (via us): masquerade
        ]
    f = '-A %s ' % FWD_CHAIN
    fwd = [f + '-s %s -j ACCEPT' % n, f + '-d %s -j ACCEPT' % n] if forward else []
    return {('nat', NAT_CHAIN): nat, ('filter', FWD_CHAIN): fwd}


def restore_input(wanted):
    """``iptables-restore --noflush`` input that (re)creates our chains with exactly ``wanted`` rules, atomically per table."""
    out = []
    for table in ('nat', 'filter'):
        chains = [(c, rules) for (t, c), rules in sorted(wanted.items()) if t == table]
        if not chains:
            continue
        out.append('*%s' % table)
        out.extend(':%s - [0:0]' % c for c, _rules in chains)
        for c, rules in chains:
            out.append('-F %s' % c)
            out.extend(rules)
        out.append('COMMIT')
    return '\n'.join(out) + '\n'
