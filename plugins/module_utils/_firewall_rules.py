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
#: With peers on other segments: VXLAN packets to this node are accepted only from the mesh's node IPs.
VXLAN_CHAIN = 'HOSTGW-VXLAN'
VXLAN_COMMENT = 'hostgw-vxlan'
NFT_INPUT_CHAIN = 'input'


def vxlan_jump(port):
    """The jump rule of the VXLAN guard in filter/INPUT (as ``iptables -S`` prints it, without ``-A INPUT``)."""
    return '-p udp -m udp --dport %d -m comment --comment %s -j %s' % (port, VXLAN_COMMENT, VXLAN_CHAIN)


def _sources(version, sources):
    """The node IPs of ``version`` among ``sources``, sorted as nft lists them (by value), canonical, no repeats."""
    out = set()
    for text in sources or ():
        ip = ipaddress.ip_address(str(text).strip())
        if ip.version == version:
            out.add(ip)
    return [str(ip) for ip in sorted(out)]


class FirewallRuleError(Exception):
    pass


def _net(text, what, version):
    try:
        net = ipaddress.ip_network(str(text).strip(), strict=True)
    except ValueError:
        raise FirewallRuleError('%s %r is not a network in CIDR form' % (what, text))
    if net.version != version:
        raise FirewallRuleError('%s %s is not IPv%d' % (what, net, version))
    return str(net)


def render(version, network, subnet, masquerade=True, forward=True, random_fully=True, vxlan=None):
    """Return ``{(table, chain): [rule lines]}`` for one family, in ``iptables -S`` form. ``vxlan``: ``(port,
    sources)`` adds the VXLAN guard chain (UDP to ``port`` from anything but ``sources`` is dropped)."""
    n = _net(network, 'network', version)
    s = _net(subnet, 'subnet', version)
    if not ipaddress.ip_network(s).subnet_of(ipaddress.ip_network(n)):
        raise FirewallRuleError('subnet %s is not inside network %s' % (s, n))
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
    out = {('nat', NAT_CHAIN): nat, ('filter', FWD_CHAIN): fwd}
    if vxlan is not None:
        plen = 32 if version == 4 else 128
        v = '-A %s ' % VXLAN_CHAIN
        out[('filter', VXLAN_CHAIN)] = [v + '-s %s/%d -j RETURN' % (ip, plen) for ip in _sources(version, vxlan[1])] + \
            [v + '-j DROP']
    return out


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


# ---- iptables: what to do, given what is there (pure) ----------------------------------------------------------

def jump_argv(table, chain, spec):
    """The argv tail (after ``iptables -w``) that names one jump rule: ``-t nat POSTROUTING -m comment ...``."""
    return ['-t', table, chain] + spec.split()


def plan_iptables(tag, current, jumps, wanted, vxlan_jumps=(), vxlan_port=None):
    """``_plan_iptables``, and hostgw's VXLAN guard jump in filter/INPUT: ``vxlan_jumps`` are the guard's jump specs
    there now (found by their comment), ``vxlan_port`` the wanted guard's port (None: no guard; its jump and chain
    go). The guard's chain is written before its jump is appended; the jump is deleted before the chain."""
    actions, steps = [], []
    want_jump = vxlan_jump(vxlan_port) if wanted is not None and vxlan_port is not None else None
    kept = False
    for spec in vxlan_jumps:
        if spec == want_jump and not kept:
            kept = True
            continue
        steps.append(('delete', 'filter', 'INPUT', spec))
        actions.append('%s: deleted jump filter/INPUT (%s)' % (tag, spec))
    if want_jump is None and wanted is not None and current.get(('filter', VXLAN_CHAIN)) is not None:
        steps += [('flush', 'filter', VXLAN_CHAIN), ('remove', 'filter', VXLAN_CHAIN)]
        actions.append('%s: deleted chain filter/%s' % (tag, VXLAN_CHAIN))
    more_actions, more_steps = _plan_iptables(tag, current, jumps, wanted)
    actions += more_actions
    steps += more_steps
    if want_jump is not None and not kept:
        # First in INPUT: an earlier ACCEPT (ufw, firewalld, "-i eth0 -j ACCEPT") would let VXLAN past it.
        steps.append(('insert', 'filter', 'INPUT', want_jump))
        actions.append('%s: inserted jump filter/INPUT (%s)' % (tag, want_jump))
    return actions, steps


def _plan_iptables(tag, current, jumps, wanted):
    """Steps that bring one family's hostgw chains and jumps to ``wanted`` (``None``: remove them).

    ``current``: ``{(table, chain): [lines] or None}`` (None: the chain does not exist), ``jumps``: ``{(table, chain):
    number of copies of hostgw's jump rule in that built-in chain}`` (concurrent runs of old versions could append
    several). Returns ``(actions, steps)``; a step is ``('restore', wanted)``, ``('append', table, chain, spec)``,
    ``('insert', table, chain, spec)`` (first in the chain), ``('delete', table, chain, spec)`` (one copy of a jump),
    ``('flush', table, chain)`` or ``('remove', table, chain)``.
    """
    actions, steps = [], []
    if wanted is not None:
        stale = sorted(key for key, rules in wanted.items() if current.get(key) != rules)
        if stale:
            steps.append(('restore', wanted))
            actions += ['%s: rewrote %s/%s' % (tag, tb, c) for (tb, c) in stale]
        for tb, c, s in JUMPS:
            n = jumps.get((tb, c), 0)
            if n == 0:
                steps.append(('append', tb, c, s))
                actions.append('%s: appended jump %s/%s' % (tag, tb, c))
            elif n > 1:
                steps += [('delete', tb, c, s)] * (n - 1)
                actions.append('%s: removed %d duplicate jump(s) %s/%s' % (tag, n - 1, tb, c))
        return actions, steps
    for tb, c, s in JUMPS:
        n = jumps.get((tb, c), 0)
        if n:
            steps += [('delete', tb, c, s)] * n          # every copy, duplicates included
            actions.append('%s: deleted jump %s/%s' % (tag, tb, c))
    for key in sorted(k for k, v in current.items() if v is not None):
        steps += [('flush',) + key, ('remove',) + key]
        actions.append('%s: deleted chain %s/%s' % (tag, key[0], key[1]))
    return actions, steps


def iptables_text(tag, current, jumps, vxlan_jumps=()):
    """hostgw's iptables state of one family as diff lines (jumps first, then chain rules)."""
    out = ['%s: -A %s %s' % (tag, c, s) for (tb, c, s) in JUMPS for _i in range(jumps.get((tb, c), 0))]
    out += ['%s: -A INPUT %s' % (tag, s) for s in vxlan_jumps]
    out += ['%s: %s' % (tag, line) for key in sorted(current) for line in (current[key] or [])]
    return out


# ---- nftables (pure) -------------------------------------------------------------------------------------------

NFT_TABLE = 'hostgw'
NFT_FAMILY = {4: 'ip', 6: 'ip6'}
NFT_NAT_CHAIN = 'postrouting'
NFT_FWD_CHAIN = 'forward'
OWN_TABLES = tuple('%s %s' % (NFT_FAMILY[v], NFT_TABLE) for v in (4, 6))


def render_nft(version, network, subnet, masquerade=True, forward=True, random_fully=True, vxlan=None):
    """hostgw's table for one family (``table ip hostgw`` / ``table ip6 hostgw``), exactly as ``nft list table`` prints it.

    The same text is the ``nft -f`` input that creates it. Rules are Flannel's ``--ip-masq`` rules, in the same order
    as the iptables backend's chains.
    """
    n = _net(network, 'network', version)
    s = _net(subnet, 'subnet', version)
    if not ipaddress.ip_network(s).subnet_of(ipaddress.ip_network(n)):
        raise FirewallRuleError('subnet %s is not inside network %s' % (s, n))
    ip = NFT_FAMILY[version]
    masq = 'masquerade fully-random' if random_fully else 'masquerade'
    nat = []
    if masquerade:
        nat = [
            'meta mark & 0x00004000 == 0x00004000 return',           # kube-proxy marked: kube-proxy masquerades
            '%s saddr %s %s daddr %s return' % (ip, s, ip, n),        # pod -> cluster: no NAT
            '%s saddr %s %s daddr %s return' % (ip, n, ip, s),        # cluster -> this node's pods: no NAT
            '%s saddr != %s %s daddr %s return' % (ip, n, ip, s),     # outside -> this node's pods: no NAT
            '%s saddr %s %s daddr != %s %s' % (ip, n, ip, MULTICAST[version], masq),  # cluster -> outside
            '%s saddr != %s %s daddr %s %s' % (ip, n, ip, n, masq),   # outside -> cluster (via us)
        ]
    fwd = ['%s saddr %s accept' % (ip, n), '%s daddr %s accept' % (ip, n)] if forward else []
    lines = ['table %s %s {' % (ip, NFT_TABLE),
             '\tchain %s {' % NFT_NAT_CHAIN,
             '\t\ttype nat hook postrouting priority srcnat; policy accept;']
    lines += ['\t\t' + r for r in nat]
    lines += ['\t}', '', '\tchain %s {' % NFT_FWD_CHAIN, '\t\ttype filter hook forward priority filter; policy accept;']
    lines += ['\t\t' + r for r in fwd]
    lines += ['\t}']
    if vxlan is not None:
        peers = _sources(version, vxlan[1])
        match = ('%s saddr != %s ' % (ip, peers[0]) if len(peers) == 1 else
                 '%s saddr != { %s } ' % (ip, ', '.join(peers)) if peers else '')
        lines += ['', '\tchain %s {' % NFT_INPUT_CHAIN, '\t\ttype filter hook input priority filter; policy accept;',
                  '\t\tudp dport %d %sdrop' % (vxlan[0], match), '\t}']
    lines += ['}']
    return '\n'.join(lines) + '\n'


def nft_rules(text):
    """The rule lines of a rendered or listed hostgw table (for the module's ``rules`` return value)."""
    return [line for line in normalize_nft(text) if not line.startswith(('table ', 'chain ', 'type ', '}'))]


_NFT_ALIASES = (
    ('type nat hook postrouting priority 100;', 'type nat hook postrouting priority srcnat;'),
    ('type filter hook forward priority 0;', 'type filter hook forward priority filter;'),
    ('type filter hook input priority 0;', 'type filter hook input priority filter;'),
)


def normalize_nft(text):
    """Lines of a table listing without indentation, blank lines or handles, with numeric priorities named:
    what is compared to decide whether hostgw's table is as wanted."""
    out = []
    for raw in (text or '').splitlines():
        line = ' '.join(raw.split())
        if not line:
            continue
        if ' # handle ' in line:
            line = line.partition(' # handle ')[0]
        for old, new in _NFT_ALIASES:
            line = line.replace(old, new)
        out.append(line)
    return out


def nft_transaction(wanted, existing):
    """One ``nft -f -`` input that makes hostgw's tables exactly ``wanted`` in a single transaction.

    ``wanted``: ``{version: table text or None}`` (None: the table must go); ``existing``: versions whose table exists
    now. ``table F hostgw`` before ``delete table F hostgw`` makes the delete valid when the table does not exist yet
    (adding an existing table is a no-op), so the file never fails on "No such file or directory". Returns '' when
    there is nothing to do.
    """
    out = []
    for version in sorted(wanted):
        ip = NFT_FAMILY[version]
        text = wanted[version]
        if text is None and version not in existing:
            continue
        out.append('table %s %s' % (ip, NFT_TABLE))
        out.append('delete table %s %s' % (ip, NFT_TABLE))
        if text is not None:
            out.append(text.rstrip('\n'))
    return '\n'.join(out) + '\n' if out else ''


def forward_drop_chains(listing):
    """Base chains of other tables hooked to forward with policy drop, from ``nft list chains`` output.

    An accept in hostgw's table ends only hostgw's chain: nftables still runs every other forward base chain, and
    one with policy drop (Docker's iptables-nft FORWARD, a firewalld zone) drops forwarded pod traffic anyway.
    Returns ``['table ip filter chain FORWARD', ...]``.
    """
    found, table, chain = [], None, None
    for raw in (listing or '').splitlines():
        words = raw.split()
        if len(words) >= 3 and words[0] == 'table':
            table, chain = '%s %s' % (words[1], words[2]), None
        elif len(words) >= 2 and words[0] == 'chain':
            chain = words[1]
        elif words[:1] == ['type'] and 'hook' in words and chain:
            hook = words[words.index('hook') + 1].rstrip(';')
            if hook == 'forward' and 'policy drop;' in ' '.join(words) and table not in OWN_TABLES:
                found.append('table %s chain %s' % (table, chain))
    return found
