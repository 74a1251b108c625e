# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure, I/O-free planning of a host-gw mesh: per-host pod subnets.

Nothing here touches the network, the file system or Ansible objects. The
action plugin ``hostgw_subnet`` feeds it plain data taken from inventory and
host leases and turns its result (or its ``PlanError``) into task results.

Subnets are handled as integers (index of the subnet inside the cluster
network): this keeps planning of tens of thousands of hosts linear and fast.
"""

from __future__ import annotations

import ipaddress

__metaclass__ = type  # pylint: disable=invalid-name

SOURCE_PIN = 'pin'
SOURCE_LEASE = 'lease'
SOURCE_RECORD = 'peer-record'
SOURCE_NEW = 'new'


class PlanError(Exception):
    """Invalid input or an impossible plan. ``errors`` lists every problem found, each naming host and value."""

    def __init__(self, errors):
        self.errors = list(errors)
        super(PlanError, self).__init__('; '.join(self.errors))


class Member:
    """One mesh member as seen from inventory.

    ``lease``/``lease6`` is the subnet the host itself reported holding:
    a string, ``''`` when the host reported that it holds none (new host), or
    ``None`` when the host's lease is unknown in this run (host not in the run,
    unreachable, or never asked).  ``record``/``record6`` is what other members
    last recorded for this host (their copy of the mesh), or ``None``.
    """

    __slots__ = ('name', 'node_ip', 'node_ip6', 'pin', 'pin6', 'lease', 'lease6', 'record', 'record6', 'in_run')

    def __init__(self, name, node_ip=None, node_ip6=None, pin=None, pin6=None,
                 lease=None, lease6=None, record=None, record6=None, in_run=True):
        self.name = name
        self.node_ip = node_ip
        self.node_ip6 = node_ip6
        self.pin = pin
        self.pin6 = pin6
        self.lease = lease
        self.lease6 = lease6
        self.record = record
        self.record6 = record6
        self.in_run = in_run


def _is_empty(value):
    return value is None or (isinstance(value, str) and value.strip() == '')


class Pool:
    """One address family's cluster network cut into equal subnets, ``[min_idx, max_idx]`` allocatable."""

    def __init__(self, network, subnet_len=None, subnet_min=None, subnet_max=None, version=4, label='network'):
        self.label = label
        self.version = version
        errors = []
        net = _parse_network(network, version, label, errors)
        if net is None:
            raise PlanError(errors)
        self.network = net
        maxbits = net.max_prefixlen
        if _is_empty(subnet_len):
            subnet_len = None
        if subnet_len is None:
            if version == 4:
                if net.prefixlen > 28:
                    raise PlanError(['%s %s is too small: the smallest useful network is a /28' % (label, net)])
                subnet_len = 24 if net.prefixlen <= 22 else net.prefixlen + 2
            else:
                subnet_len = 64
        try:
            subnet_len = int(subnet_len)
        except (TypeError, ValueError):
            raise PlanError(['%s subnet length %r is not an integer' % (label, subnet_len)])
        limit = 30 if version == 4 else 126
        if subnet_len > limit:
            raise PlanError(['%s subnet length /%d is too long: it must be at most /%d (a gateway and pods need room)'
                             % (label, subnet_len, limit)])
        if subnet_len < net.prefixlen + 2:
            raise PlanError(['%s %s cannot hold at least four /%d subnets: use a longer subnet length or a larger network'
                             % (label, net, subnet_len)])
        self.subnet_len = subnet_len
        self.shift = maxbits - subnet_len
        self.base = int(net.network_address)
        self.count = 1 << (subnet_len - net.prefixlen)
        self.min_idx = 1 if _is_empty(subnet_min) else self._bound(subnet_min, 'subnet_min', errors)
        self.max_idx = self.count - 1 if _is_empty(subnet_max) else self._bound(subnet_max, 'subnet_max', errors)
        if errors:
            raise PlanError(errors)
        if self.min_idx > self.max_idx:
            raise PlanError(['%s: subnet_min %s is above subnet_max %s' % (label, self.subnet(self.min_idx), self.subnet(self.max_idx))])

    def _bound(self, value, what, errors):
        """Flannel's SubnetMin/SubnetMax: an address (or CIDR) of a subnet start inside the network."""
        text = str(value).strip()
        addr_text = text.split('/', 1)[0]
        try:
            addr = ipaddress.ip_address(addr_text)
        except ValueError:
            errors.append('%s: %s %r is not an IP address' % (self.label, what, text))
            return 0
        if '/' in text:
            try:
                plen = int(text.split('/', 1)[1])
            except ValueError:
                plen = -1
            if plen != self.subnet_len:
                errors.append('%s: %s %r must be a /%d like the subnets' % (self.label, what, text, self.subnet_len))
                return 0
        if addr.version != self.version or addr not in self.network:
            errors.append('%s: %s %s is outside %s' % (self.label, what, text, self.network))
            return 0
        offset = int(addr) - self.base
        if offset & ((1 << self.shift) - 1):
            errors.append('%s: %s %s is not aligned to a /%d subnet boundary' % (self.label, what, text, self.subnet_len))
            return 0
        return offset >> self.shift

    def subnet(self, idx):
        return '%s/%d' % (ipaddress.ip_address(self.base + (idx << self.shift)), self.subnet_len)

    def gateway(self, idx):
        return str(ipaddress.ip_address(self.base + (idx << self.shift) + 1))

    def index_of(self, text):
        """Index of subnet ``text`` or raise ValueError with a reason."""
        if not isinstance(text, str):
            raise ValueError('is not a CIDR string')
        try:
            net = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise ValueError('is not a valid CIDR')
        if net.version != self.version:
            raise ValueError('is IPv%d, the %s is IPv%d' % (net.version, self.label, self.version))
        if int(ipaddress.ip_interface(text.strip()).ip) != int(net.network_address):
            raise ValueError('has host bits set (did you mean %s?)' % net)
        if net.prefixlen != self.subnet_len:
            raise ValueError('is a /%d, subnets of %s are /%d' % (net.prefixlen, self.network, self.subnet_len))
        if not net.subnet_of(self.network):
            raise ValueError('is outside the %s %s' % (self.label, self.network))
        return (int(net.network_address) - self.base) >> self.shift


def _parse_network(value, version, label, errors):
    if not isinstance(value, str) or not value.strip():
        errors.append('%s %r is not a CIDR' % (label, value))
        return None
    text = value.strip()
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        errors.append('%s %r is not a valid CIDR' % (label, text))
        return None
    if net.version != version:
        errors.append('%s %s is IPv%d, expected IPv%d' % (label, text, net.version, version))
        return None
    if str(net) != text and ipaddress.ip_interface(text).ip != net.network_address:
        errors.append('%s %s has host bits set (did you mean %s?)' % (label, text, net))
        return None
    if '/' not in text:
        errors.append('%s %s needs a prefix length, like %s/16' % (label, text, text))
        return None
    return net


def _parse_node_ip(member, value, version, pools, errors, what):
    if _is_empty(value):
        return None
    text = str(value).strip()
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        errors.append('host %s: %s %r is not an IP address' % (member.name, what, text))
        return None
    if addr.version != version:
        errors.append('host %s: %s %s is IPv%d, expected IPv%d' % (member.name, what, text, addr.version, version))
        return None
    for pool in pools:
        if pool is not None and pool.version == version and addr in pool.network:
            errors.append('host %s: %s %s is inside the cluster %s %s; node addresses must lie outside it'
                          % (member.name, what, text, pool.label, pool.network))
            return None
    return str(addr)


def _allocate(pool, members, attr_pin, attr_lease, attr_record, errors, notes, assume_new=False):
    """Return ``{name: (idx, source)}`` for one family, appending to ``errors``/``notes``."""
    taken = {}      # idx -> name
    result = {}
    label = pool.label

    # 1. pins
    for m in members:
        pin = getattr(m, attr_pin)
        if _is_empty(pin):
            continue
        try:
            idx = pool.index_of(pin)
        except ValueError as e:
            errors.append('host %s: pinned subnet %r %s' % (m.name, pin, e))
            continue
        if idx in taken:
            errors.append('hosts %s and %s are both pinned to %s' % (taken[idx], m.name, pool.subnet(idx)))
            continue
        taken[idx] = m.name
        result[m.name] = (idx, SOURCE_PIN)

    # 2. leases (own lease first, then what peers recorded), 3. collect new hosts
    new = []
    unknown = []
    for m in members:
        if m.name in result:
            continue
        lease = getattr(m, attr_lease)
        candidates = []
        if not _is_empty(lease):
            candidates.append((lease, SOURCE_LEASE))
        records = getattr(m, attr_record) or []
        if isinstance(records, str):
            records = [records]
        records = sorted(set(r for r in records if not _is_empty(r)))
        if len(records) > 1 and not candidates:
            errors.append('host %s: peers recorded different %s subnets for it (%s); pin it with hostgw_subnet%s'
                          % (m.name, label, ', '.join(records), '6' if pool.version == 6 else ''))
            continue
        candidates.extend((r, SOURCE_RECORD) for r in records)
        chosen = None
        for text, source in candidates:
            try:
                idx = pool.index_of(text)
            except ValueError as e:
                notes.append('host %s: %s %s %s; ignored' % (m.name, 'lease' if source == SOURCE_LEASE else 'recorded subnet', text, e))
                continue
            chosen = (idx, source)
            break
        if chosen is None:
            if lease is None and not (assume_new and m.in_run):
                unknown.append(m)
            else:
                new.append(m)
            continue
        idx, source = chosen
        owner = taken.get(idx)
        if owner is not None:
            if result.get(owner, (None, None))[1] == SOURCE_PIN:
                if m.in_run:
                    notes.append('host %s: its %s %s is now pinned to %s; %s gets a new subnet'
                                 % (m.name, 'lease' if source == SOURCE_LEASE else 'recorded subnet', pool.subnet(idx), owner, m.name))
                    new.append(m)
                else:
                    errors.append('host %s is pinned to %s, which %s (not in this run) still holds; include %s in the run '
                                  'so it can be renumbered, or pin another subnet' % (owner, pool.subnet(idx), m.name, m.name))
                continue
            errors.append('hosts %s and %s both hold %s; pin one of them (hostgw_subnet) or remove the stale lease'
                          % (owner, m.name, pool.subnet(idx)))
            continue
        taken[idx] = m.name
        result[m.name] = (idx, source)

    for m in unknown:
        errors.append('host %s: its %s lease is unknown in this run (not reachable or not in --limit, and no peer recorded it); '
                      'refusing to renumber it or give its subnet away: run with it included, or pin hostgw_subnet%s'
                      % (m.name, label, '6' if pool.version == 6 else ''))

    # 4. new hosts: lowest free subnet in [min, max], by host name (inventory order does not matter)
    new.sort(key=lambda m: m.name)
    cursor = pool.min_idx
    starved = []
    for m in new:
        while cursor <= pool.max_idx and cursor in taken:
            cursor += 1
        if cursor > pool.max_idx:
            starved.append(m.name)
            continue
        taken[cursor] = m.name
        result[m.name] = (cursor, SOURCE_NEW)
        cursor += 1
    if starved:
        errors.append('out of subnets in %s %s between %s and %s: no subnet left for host%s %s'
                      % (label, pool.network, pool.subnet(pool.min_idx), pool.subnet(pool.max_idx),
                         's' if len(starved) > 1 else '', ', '.join(starved)))
    return result


def plan_mesh(members, network, subnet_len=None, subnet_min=None, subnet_max=None,
              network6=None, subnet_len6=None, subnet_min6=None, subnet_max6=None, assume_new=False):
    """Plan subnets for ``members`` (list of ``Member``). Raise ``PlanError`` listing every problem.

    Returns a dict: ``network``, ``subnet_len``, ``network6``, ``subnet_len6``, ``hosts`` (name -> host plan),
    ``routes`` (one entry per member and family: ``host``, ``dest``, ``via``), ``notes``.

    ``assume_new``: a host in the run whose lease is unknown (``None``) is treated as new instead of
    failing. Only for callers that have no lease source at all.
    """
    errors = []
    pool4 = pool6 = None
    try:
        pool4 = Pool(network, subnet_len, subnet_min, subnet_max, 4, 'network')
    except PlanError as e:
        errors.extend(e.errors)
    if not _is_empty(network6):
        try:
            pool6 = Pool(network6, subnet_len6, subnet_min6, subnet_max6, 6, 'network6')
        except PlanError as e:
            errors.extend(e.errors)
    if errors:
        raise PlanError(errors)

    seen_names = set()
    node_ips = {}
    node_ips6 = {}
    parsed = {}
    for m in members:
        if m.name in seen_names:
            errors.append('host %s is listed twice' % m.name)
            continue
        seen_names.add(m.name)
        ip = _parse_node_ip(m, m.node_ip, 4, (pool4, pool6), errors, 'node IP')
        if ip is None and _is_empty(m.node_ip):
            errors.append('host %s: no node IP: set hostgw_node_ip, or ansible_host to an address, or gather facts '
                          'so ansible_default_ipv4 is known' % m.name)
        ip6 = None
        if pool6 is not None:
            ip6 = _parse_node_ip(m, m.node_ip6, 6, (pool4, pool6), errors, 'IPv6 node IP')
            if ip6 is None and _is_empty(m.node_ip6):
                errors.append('host %s: no IPv6 node IP for dual-stack: set hostgw_node_ip6 (a stable, '
                              'non-temporary address on the uplink)' % m.name)
        if ip is not None:
            if ip in node_ips:
                errors.append('hosts %s and %s have the same node IP %s' % (node_ips[ip], m.name, ip))
            node_ips[ip] = m.name
        if ip6 is not None:
            if ip6 in node_ips6:
                errors.append('hosts %s and %s have the same IPv6 node IP %s' % (node_ips6[ip6], m.name, ip6))
            node_ips6[ip6] = m.name
        parsed[m.name] = (ip, ip6)

    notes = []
    alloc4 = _allocate(pool4, members, 'pin', 'lease', 'record', errors, notes, assume_new)
    alloc6 = _allocate(pool6, members, 'pin6', 'lease6', 'record6', errors, notes, assume_new) if pool6 is not None else {}
    if errors:
        raise PlanError(errors)

    hosts = {}
    routes = []
    for m in sorted(members, key=lambda x: x.name):
        ip, ip6 = parsed[m.name]
        idx, source = alloc4[m.name]
        entry = {
            'subnet': pool4.subnet(idx),
            'gateway': pool4.gateway(idx),
            'gateway_cidr': '%s/%d' % (pool4.gateway(idx), pool4.subnet_len),
            'node_ip': ip,
            'source': source,
            'in_run': bool(m.in_run),
        }
        routes.append({'host': m.name, 'dest': entry['subnet'], 'via': ip})
        if pool6 is not None:
            idx6, source6 = alloc6[m.name]
            entry.update({
                'subnet6': pool6.subnet(idx6),
                'gateway6': pool6.gateway(idx6),
                'gateway6_cidr': '%s/%d' % (pool6.gateway(idx6), pool6.subnet_len),
                'node_ip6': ip6,
                'source6': source6,
            })
            routes.append({'host': m.name, 'dest': entry['subnet6'], 'via': ip6})
        hosts[m.name] = entry

    return {
        'network': str(pool4.network),
        'subnet_len': pool4.subnet_len,
        'subnet_min': pool4.subnet(pool4.min_idx),
        'subnet_max': pool4.subnet(pool4.max_idx),
        'network6': str(pool6.network) if pool6 is not None else None,
        'subnet_len6': pool6.subnet_len if pool6 is not None else None,
        'hosts': hosts,
        'routes': routes,
        'notes': notes,
    }
