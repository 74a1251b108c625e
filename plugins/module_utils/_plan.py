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
import re

from ansible_collections.hostgw.network.plugins.module_utils._mesh import first_address

__metaclass__ = type  # pylint: disable=invalid-name

SOURCE_PIN = 'pin'
SOURCE_LEASE = 'lease'
SOURCE_RECORD = 'peer-record'
SOURCE_NEW = 'new'


class PlanError(Exception):
    """Invalid input or an impossible plan. ``errors`` lists every problem found, each naming host and value."""

    def __init__(self, errors, unknown=()):
        self.errors = list(errors)
        #: Hosts refused because no lease or record of the run knows them (``unknown_error``), for callers that
        #: explain what to run.
        self.unknown = list(unknown)
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


# Characters an address, a CIDR or a netmask can be written with (all letters pass, so that 'banana' is
# reported by ipaddress as not a CIDR). Anything else (whitespace, a newline, ';', '$', an IPv6 '%scope', ...)
# is refused rather than stripped: these values end up in routes, configuration files and templates, and a
# value that needs cleaning is a mistake worth reporting.
_ADDR_CHARS = re.compile(r'[0-9A-Za-z.:/]+\Z')


# Fast path for the common case, plain dotted-quad IPv4 text; anything else goes through ipaddress, which
# also gives the exact reason for a refusal. Only text ipaddress accepts (and prints the same) passes here.
_V4 = re.compile(r'([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\Z')


def _v4_int(text):
    """The integer of ``text`` when it is a canonical dotted-quad IPv4 address, else None."""
    m = _V4.match(text)
    if m is None:
        return None
    n = 0
    for part in m.groups():
        if len(part) > 1 and part[0] == '0':
            return None
        v = int(part)
        if v > 255:
            return None
        n = (n << 8) | v
    return n


def _v4_text(n):
    return '%d.%d.%d.%d' % (n >> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255)


def _addr_text(value):
    """``value`` as address text, or raise ValueError when it is not a string made of address characters."""
    if not isinstance(value, str):
        raise ValueError('is not a string')
    if not _ADDR_CHARS.match(value):
        bad = sorted(set(c for c in value if not _ADDR_CHARS.match(c)))
        raise ValueError('is not a valid CIDR or address: it contains %s' % ', '.join(repr(c) for c in bad))
    return value


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
        sfx = '6' if version == 6 else ''   # the option names: subnet_len6, subnet_min6 and subnet_max6 for IPv6
        what = 'subnet_len%s (the role\'s hostgw_subnet_len%s)' % (sfx, sfx)
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
            raise PlanError(['%s: %s %r is not an integer' % (label, what, subnet_len)])
        limit = 30 if version == 4 else 126
        if subnet_len > limit:
            raise PlanError(['%s: %s %d is too long: it must be at most %d (a gateway and pods need room)'
                             % (label, what, subnet_len, limit)])
        if subnet_len < net.prefixlen + 2:
            raise PlanError(['%s: %s %d leaves %s %s fewer than four subnets: use a subnet length of at least %d '
                             'or a larger network' % (label, what, subnet_len, label, net, net.prefixlen + 2)])
        self.subnet_len = subnet_len
        self.shift = maxbits - subnet_len
        self.base = int(net.network_address)
        self.count = 1 << (subnet_len - net.prefixlen)
        self.end = self.base + (self.count << self.shift)   # first address after the network
        self._plen_text = str(subnet_len)
        self.min_idx = 1 if _is_empty(subnet_min) else self._bound(subnet_min, 'subnet_min' + sfx, errors)
        self.max_idx = self.count - 1 if _is_empty(subnet_max) else self._bound(subnet_max, 'subnet_max' + sfx, errors)
        if errors:
            raise PlanError(errors)
        if self.min_idx > self.max_idx:
            raise PlanError(['%s: subnet_min%s %s is above subnet_max%s %s'
                             % (label, sfx, self.subnet(self.min_idx), sfx, self.subnet(self.max_idx))])

    def _bound(self, value, what, errors):
        """Flannel's SubnetMin/SubnetMax: an address (or CIDR) of a subnet start inside the network."""
        text = value if isinstance(value, str) else str(value)
        try:
            _addr_text(text)
            addr = ipaddress.ip_address(text.split('/', 1)[0])
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
        if self.version == 4:
            return '%s/%d' % (_v4_text(self.base + (idx << self.shift)), self.subnet_len)
        return '%s/%d' % (ipaddress.ip_address(self.base + (idx << self.shift)), self.subnet_len)

    def gateway(self, idx):
        if self.version == 4:
            return _v4_text(self.base + (idx << self.shift) + 1)
        return str(ipaddress.ip_address(self.base + (idx << self.shift) + 1))

    def contains(self, n):
        """Whether the address with integer ``n`` (of this pool's family) lies inside the network."""
        return self.base <= n < self.end

    def index_of(self, text):
        """Index of subnet ``text`` or raise ValueError with a reason."""
        if self.version == 4 and isinstance(text, str):
            addr, sep, plen = text.partition('/')
            n = _v4_int(addr)
            if n is not None and plen == self._plen_text and self.base <= n < self.end:
                offset = n - self.base
                if not offset & ((1 << self.shift) - 1):
                    return offset >> self.shift
        if not isinstance(text, str):
            raise ValueError('is not a CIDR string')
        _addr_text(text)
        try:
            iface = ipaddress.ip_interface(text)
        except ValueError:
            raise ValueError('is not a valid CIDR')
        if '/' not in text:
            raise ValueError('has no prefix length (subnets of %s are /%d)' % (self.network, self.subnet_len))
        net = iface.network
        if net.version != self.version:
            raise ValueError('is IPv%d, the %s is IPv%d' % (net.version, self.label, self.version))
        if iface.ip != net.network_address:
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
    text = value
    try:
        _addr_text(text)
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
    text = value if isinstance(value, str) else str(value)
    if version == 4:
        n = _v4_int(text)
        if n is not None and not any(p is not None and p.version == 4 and p.contains(n) for p in pools):
            return text     # canonical already
    try:
        addr = ipaddress.ip_address(_addr_text(text))
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


#: Hosts named in one message; the rest are counted (a --limit of one host in a mesh of 10,000 has 9,999 others).
NAMES_LISTED = 10


def name_list(names, limit=NAMES_LISTED):
    """``a, b, c`` or ``a, b, ... and 9,990 more``."""
    names = list(names)
    if len(names) <= limit:
        return ', '.join(names)
    return '%s and %s more' % (', '.join(names[:limit]), '{:,}'.format(len(names) - limit))


def unknown_error(names, label='network', six=''):
    """Why the run refuses hosts whose lease nobody in it knows (one message for all of them)."""
    how = ('run with it included, put a host converged with it in the run (its member table knows every member), '
           'refresh the fact cache (playbooks/facts.yml), or pin hostgw_subnet%s' % six)
    if len(names) == 1:
        return ('host %s: its %s lease is unknown in this run (not reachable or not in --limit, not in the fact cache, '
                'and no lease or member table of the hosts in this run records it); refusing to renumber it or give '
                'its subnet away: %s' % (names[0], label, how))
    return ('hosts %s: their %s leases are unknown in this run (%d hosts not reachable or not in --limit, not in the fact '
            'cache, and no lease or member table of the hosts in this run records them); refusing to renumber them or '
            'give their subnets away: %s' % (name_list(names), label, len(names), how.replace('with it', 'with them')))


def _allocate(pool, members, attrs, errors, notes, assume_new=False, unknown_out=None):
    """Return ``{name: (idx, source)}`` for one family, appending to ``errors``/``notes`` (and the names of hosts
    nobody knows to ``unknown_out``). ``attrs``: the member attributes of the family's pin, lease and peer records.

    In three steps, each its own function: pins; what every other host already holds (its lease, else its peers'
    records), conflicts resolved; then the lowest free subnets for new hosts."""
    attr_pin, attr_lease, attr_record = attrs
    taken = {}      # idx -> name
    result = {}
    # By name: the plan and every message are the same whatever the inventory order.
    members = sorted(members, key=lambda x: x.name)
    bad_pin = _place_pins(pool, members, attr_pin, taken, result, errors)
    held, new, unknown = _held_subnets(pool, [m for m in members if m.name not in result and m.name not in bad_pin],
                                       attr_lease, attr_record, errors, notes, assume_new)
    new.extend(_place_held(pool, held, taken, result, errors, notes))
    if unknown:
        errors.append(unknown_error([m.name for m in unknown], pool.label, '6' if pool.version == 6 else ''))
        if unknown_out is not None:
            unknown_out.extend(m.name for m in unknown)
    _place_new(pool, new, taken, result, errors)
    return result


def _place_pins(pool, members, attr_pin, taken, result, errors):
    """Step 1: every pinned host gets its pin. Returns the names whose pin is bad (reported once, about the pin; not
    also planned from their lease)."""
    bad_pin = set()
    for m in members:
        pin = getattr(m, attr_pin)
        if _is_empty(pin):
            continue
        try:
            idx = pool.index_of(pin)
        except ValueError as e:
            errors.append('host %s: pinned subnet %r %s' % (m.name, pin, e))
            bad_pin.add(m.name)
            continue
        if idx in taken:
            errors.append('hosts %s and %s are both pinned to %s' % (taken[idx], m.name, pool.subnet(idx)))
            bad_pin.add(m.name)
            continue
        taken[idx] = m.name
        result[m.name] = (idx, SOURCE_PIN)
    return bad_pin


def _held_subnets(pool, members, attr_lease, attr_record, errors, notes, assume_new):
    """Step 2a: what each host holds: its own lease, else the subnet its peers recorded for it.
    Returns ``(held [(member, (idx, source))], new [members], unknown [members])``."""
    held, new, unknown = [], [], []
    for m in members:
        lease = getattr(m, attr_lease)
        chosen = None
        if not _is_empty(lease):
            try:
                chosen = (pool.index_of(lease), SOURCE_LEASE)
            except ValueError as e:
                notes.append('host %s: lease %r %s; ignored' % (m.name, lease, e))
        if chosen is None:
            chosen = _recorded(pool, m, getattr(m, attr_record), errors, notes)
            if chosen is False:
                continue
        if chosen is None:
            if lease is None and not (assume_new and m.in_run):
                unknown.append(m)
            else:
                new.append(m)
            continue
        held.append((m, chosen))
    return held, new, unknown


def _recorded(pool, m, records, errors, notes):
    """The subnet ``m``'s peers recorded for it: ``(idx, SOURCE_RECORD)``, None (no valid record) or False (records
    that disagree: an error)."""
    records = records or []
    if isinstance(records, str):
        records = [records]
    valid = {}
    bad = []
    texts = set()
    for r in records:
        if isinstance(r, str):
            if r.strip():
                texts.add(r)
        elif r is not None:
            texts.add(repr(r))  # refused below (index_of wants a string), named in the note
    for text in sorted(texts):
        try:
            valid.setdefault(pool.index_of(text), text)
        except ValueError as e:
            bad.append('%r %s' % (text, e))
    if bad:
        notes.append('host %s: recorded %s subnet%s %s; ignored'
                     % (m.name, pool.label, 's' if len(bad) > 1 else '', ', '.join(bad)))
    if len(valid) > 1:
        errors.append('host %s: peers recorded different %s subnets for it (%s); pin it with hostgw_subnet%s'
                      % (m.name, pool.label, ', '.join(pool.subnet(i) for i in sorted(valid)),
                         '6' if pool.version == 6 else ''))
        return False
    if valid:
        return next(iter(valid)), SOURCE_RECORD
    return None


def _place_held(pool, held, taken, result, errors, notes):
    """Step 2b: each held subnet is kept unless a pin or another holder has it. Returns the hosts that must be
    renumbered (their subnet is now pinned to another host)."""
    renumber = []
    six = '6' if pool.version == 6 else ''
    for m, (idx, source) in held:
        owner = taken.get(idx)
        if owner is not None:
            what = 'lease' if source == SOURCE_LEASE else 'recorded subnet'
            if result[owner][1] == SOURCE_PIN:
                if m.in_run:
                    notes.append('host %s: its %s %s is now pinned to %s; %s gets a new subnet'
                                 % (m.name, what, pool.subnet(idx), owner, m.name))
                    renumber.append(m)
                else:
                    errors.append('host %s is pinned to %s, which %s (not in this run) still holds; include %s in the run '
                                  'so it can be renumbered, or pin another subnet' % (owner, pool.subnet(idx), m.name, m.name))
                continue
            errors.append('hosts %s and %s both hold %s; pin one of them (hostgw_subnet%s) or remove the stale lease'
                          % (owner, m.name, pool.subnet(idx), six))
            continue
        taken[idx] = m.name
        result[m.name] = (idx, source)
    return renumber


def _place_new(pool, new, taken, result, errors):
    """Step 3: new hosts get the lowest free subnets in [min, max], by host name (inventory order does not matter)."""
    new = sorted(new, key=lambda x: x.name)
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
                      % (pool.label, pool.network, pool.subnet(pool.min_idx), pool.subnet(pool.max_idx),
                         's' if len(starved) > 1 else '', ', '.join(starved)))


class PlanOptions:
    """What ``plan_mesh`` cuts subnets from: Flannel's ``Network``, ``SubnetLen``, ``SubnetMin``, ``SubnetMax`` and
    their IPv6 twins (``network6`` empty: IPv4 only), and ``assume_new`` (a host in the run whose lease is unknown,
    ``None``, is treated as new instead of failing; only for callers that have no lease source at all)."""

    FIELDS = ('network', 'subnet_len', 'subnet_min', 'subnet_max',
              'network6', 'subnet_len6', 'subnet_min6', 'subnet_max6', 'assume_new')

    def __init__(self, network, subnet_len=None, subnet_min=None, subnet_max=None,
                 network6=None, subnet_len6=None, subnet_min6=None, subnet_max6=None, assume_new=False):
        self.network, self.subnet_len, self.subnet_min, self.subnet_max = network, subnet_len, subnet_min, subnet_max
        self.network6, self.subnet_len6 = network6, subnet_len6
        self.subnet_min6, self.subnet_max6 = subnet_min6, subnet_max6
        self.assume_new = assume_new

    @classmethod
    def of(cls, options, **kw):
        """From a dict holding (some of) ``FIELDS``, as hostgw_subnet's options do; ``kw`` overrides."""
        values = dict((k, options.get(k)) for k in cls.FIELDS if options.get(k) is not None)
        values.update(kw)
        return cls(**values)

    def pools(self):
        """``(pool4, pool6 or None)``; raises ``PlanError`` listing every problem of both."""
        errors = []
        pool4 = pool6 = None
        try:
            pool4 = Pool(self.network, self.subnet_len, self.subnet_min, self.subnet_max, 4, 'network')
        except PlanError as e:
            errors.extend(e.errors)
        if not _is_empty(self.network6):
            try:
                pool6 = Pool(self.network6, self.subnet_len6, self.subnet_min6, self.subnet_max6, 6, 'network6')
            except PlanError as e:
                errors.extend(e.errors)
        if errors:
            raise PlanError(errors)
        return pool4, pool6


def plan_mesh(members, options):
    """Plan subnets for ``members`` (list of ``Member``) under ``options`` (``PlanOptions``). Raise ``PlanError``
    listing every problem.

    Returns a dict: ``network``, ``subnet_len``, ``network6``, ``subnet_len6``, ``hosts`` (name -> ``subnet``,
    ``node_ip``, ``source``, and ``subnet6``, ``node_ip6``, ``source6`` in dual-stack plans), ``notes``. Everything
    derived from a host's entry (gateways: ``host_view``; routes: ``_mesh.member_routes``; leases:
    ``_lease.lease_of``) is left out, so that the plan of 10,000 hosts stays about 100 bytes a host.
    """
    pool4, pool6 = options.pools()
    errors = []
    unique, parsed = _node_ips(members, pool4, pool6, errors)
    notes = []
    unknown = []
    alloc4 = _allocate(pool4, unique, ('pin', 'lease', 'record'), errors, notes, options.assume_new, unknown)
    alloc6 = {}
    if pool6 is not None:
        alloc6 = _allocate(pool6, unique, ('pin6', 'lease6', 'record6'), errors, notes, options.assume_new, unknown)
    if errors:
        raise PlanError(errors, sorted(set(unknown)))

    hosts = {}
    for m in sorted(unique, key=lambda x: x.name):
        ip, ip6 = parsed[m.name]
        idx, source = alloc4[m.name]
        entry = {'subnet': pool4.subnet(idx), 'node_ip': ip, 'source': source}
        if pool6 is not None:
            idx6, source6 = alloc6[m.name]
            entry.update({'subnet6': pool6.subnet(idx6), 'node_ip6': ip6, 'source6': source6})
        hosts[m.name] = entry

    return {
        'network': str(pool4.network),
        'subnet_len': pool4.subnet_len,
        'subnet_min': pool4.subnet(pool4.min_idx),
        'subnet_max': pool4.subnet(pool4.max_idx),
        'network6': str(pool6.network) if pool6 is not None else None,
        'subnet_len6': pool6.subnet_len if pool6 is not None else None,
        'hosts': hosts,
        'notes': notes,
    }


def _node_ips(members, pool4, pool6, errors):
    """Each member once, with its node IP(s) checked: ``(unique members, {name: (ip, ip6)})``."""
    unique = []
    node_ips = {}
    node_ips6 = {}
    parsed = {}
    for m in members:
        if m.name in parsed:
            errors.append('host %s is listed twice' % m.name)
            continue
        unique.append(m)
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
            node_ips.setdefault(ip, m.name)
        if ip6 is not None:
            if ip6 in node_ips6:
                errors.append('hosts %s and %s have the same IPv6 node IP %s' % (node_ips6[ip6], m.name, ip6))
            node_ips6.setdefault(ip6, m.name)
        parsed[m.name] = (ip, ip6)
    return unique, parsed


def host_view(plan, name):
    """One host's entry of ``plan`` with what is derived from it: ``gateway`` and ``gateway_cidr`` (and ``gateway6``,
    ``gateway6_cidr`` in dual-stack plans), the first address of each subnet. The plan itself carries only what
    cannot be derived, so that it stays small however large the mesh (what the role and the ``plan_host`` filter
    read per host). Raises ``KeyError`` for a host the plan does not hold."""
    entry = dict(plan['hosts'][name])
    for suffix in ('', '6'):
        subnet = entry.get('subnet' + suffix)
        if subnet:
            gateway = first_address(subnet)
            entry['gateway' + suffix] = gateway
            entry['gateway%s_cidr' % suffix] = '%s/%s' % (gateway, subnet.split('/')[1])
    return entry


def _same_subnet(a, b):
    if a == b:
        return True
    try:
        return ipaddress.ip_network(a, strict=False) == ipaddress.ip_network(b, strict=False)
    except (TypeError, ValueError):
        return a == b


def _new_or_moved(source, lease, subnet):
    if source == SOURCE_NEW:
        return True
    if lease is None:       # unknown in this run: it kept what peers recorded, or is pinned
        return False
    if isinstance(lease, str) and not lease.strip():    # held nothing: new to the mesh unless peers knew it
        return source == SOURCE_PIN
    return not _same_subnet(lease, subnet)


def summarize(plan, members):
    """Add the run-level facts the role reports at the end: who was not in this run and who is new or moved."""
    by_name = dict((m.name, m) for m in members)
    moved = []
    for name, host in plan['hosts'].items():
        m = by_name[name]
        if _new_or_moved(host['source'], m.lease, host['subnet']):
            moved.append(name)
        elif 'subnet6' in host and _new_or_moved(host['source6'], m.lease6, host['subnet6']):
            moved.append(name)
    plan['new_or_moved'] = sorted(moved)
    plan['not_in_run'] = sorted(set(m.name for m in members if not m.in_run and m.name in plan['hosts']))
    return plan
