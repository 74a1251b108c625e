# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure, I/O-free route planning for ``hostgw_route``: validation, the L2 check and the diff.

Kernel state comes in as plain ``KRoute``/``KAddr`` tuples read by the netlink seam
(``_netlink``); what to change goes out as a ``RouteChanges``. Everything is O(N).
"""

from __future__ import annotations

import ipaddress
import socket
from collections import namedtuple

from ansible_collections.hostgw.network.plugins.module_utils._mesh import OnLink

__metaclass__ = type  # pylint: disable=invalid-name

#: Route protocol number that marks routes owned by hostgw (``ip route ... proto 244``).
DEFAULT_PROTO = 244
#: Kernel default metrics when none is given.
DEFAULT_METRIC = {4: 0, 6: 1024}

# A route as read from the kernel (main table). dest is canonical 'net/len'; via may be None.
KRoute = namedtuple('KRoute', 'family dest via oif proto metric rtype nhid')
KRoute.__new__.__defaults__ = (None,)   # nhid: the kernel next-hop object the route uses, if any
# A kernel next-hop object (Linux 5.3+): id, family, gateway, link index, protocol, whether it is a group, and
# whether the gateway is taken as on-link (RTNH_F_ONLINK: an object through the VXLAN device, to a peer's VTEP).
KNexthop = namedtuple('KNexthop', 'id family via oif proto group onlink')
KNexthop.__new__.__defaults__ = (False,)
#: First id hostgw gives its next-hop objects (proto * 1,000,000: readable, far from ids tools count up from 1).
NH_ID_STEP = 1000000
# An address on a link: address text, prefix length, link index, family.
KAddr = namedtuple('KAddr', 'index family address prefixlen scope flags')
KAddr.__new__.__defaults__ = (0, 0)   # scope (RT_SCOPE_UNIVERSE), IFA_F_* flags
#: IFA_F_* flags of an address that is never a node IP: temporary (privacy), deprecated, tentative, DAD failed.
IFA_F_UNSTABLE = 0x01 | 0x20 | 0x40 | 0x08


def is_link_local(address):
    """The one definition of link-local hostgw uses everywhere (fe80::/10, 169.254.0.0/16): such addresses are
    the kernel's, never node IPs, never gateway addresses hostgw manages, never compared or removed."""
    ip = ipaddress.ip_address(str(address).split('/', maxsplit=1)[0].split('%')[0])
    return ip.is_link_local


# A wanted route after validation. ``oif``/``onlink``: set for a route through the VXLAN device (its own link, and
# the peer's VTEP address taken as on-link); None/False for a route via the uplink (the plan's device).
WRoute = namedtuple('WRoute', 'family dest via metric host oif onlink')
WRoute.__new__.__defaults__ = (None, False)


class RouteError(Exception):
    """Invalid input or an unsafe change; ``errors`` lists each problem (naming peer and value)."""

    def __init__(self, errors):
        self.errors = list(errors)
        super(RouteError, self).__init__('; '.join(self.errors))


class RouteChanges:
    def __init__(self):
        self.add = []        # WRoute
        self.replace = []    # (KRoute old, WRoute new)
        self.delete = []     # KRoute
        self.unchanged = 0
        self.skipped = []    # WRoute whose next hop is this host itself
        self.move = []       # (KRoute old, WRoute new): IPv6 onto an onlink gateway the old route covers (see _node)

    @property
    def changed(self):
        return bool(self.add or self.replace or self.delete or self.move)


def route_line(family, dest, via, dev, proto, metric, nhid=None):
    """Human-readable route, like ``ip route`` prints it (``nhid N`` first for a route through a next-hop object)."""
    line = '%s %svia %s dev %s proto %s' % (dest, 'nhid %d ' % nhid if nhid else '', via, dev, proto)
    if metric is not None and metric != DEFAULT_METRIC[family]:
        line += ' metric %d' % metric
    return line


def wanted_line(w, dev_name, proto, names=None, nhid=None):
    """``route_line`` of a wanted route: via the uplink ``dev_name``, or (``w.oif``) via its own link, onlink."""
    if w.oif:
        return route_line(w.family, w.dest, w.via, (names or {}).get(w.oif, w.oif), proto, w.metric, nhid) + ' onlink'
    return route_line(w.family, w.dest, w.via, dev_name, proto, w.metric, nhid)


def _label(entry, index):
    host = entry.get('host') if isinstance(entry, dict) else None
    return 'peer %s' % host if host else 'routes[%d]' % index


_BROADCAST = ipaddress.ip_address('255.255.255.255')


def _metric(metric, family):
    """The metric the kernel will store: an unsigned 32-bit number; IPv6 turns 0 into 1024."""
    m = int(metric)
    if not 0 <= m <= 0xFFFFFFFF:
        raise RouteError(['metric %d is out of range (0-4294967295)' % m])
    if family == 6 and m == 0:
        return DEFAULT_METRIC[6]
    return m


def _v4(text):
    """A dotted-quad IPv4 address as an int (what ipaddress accepts; no leading zeros), else None."""
    try:
        raw = socket.inet_pton(socket.AF_INET, text)
    except (OSError, TypeError, ValueError):
        return None
    return int.from_bytes(raw, 'big')


_PLENS = dict((str(n), n) for n in range(33))    # canonical IPv4 prefix lengths as text
_AF_INET = socket.AF_INET
_PTON = socket.inet_pton


def _fast_v4(dest_text, via_text):
    """True when ``dest_text`` and ``via_text`` are a plain, valid IPv4 route already in canonical text (else the
    general path validates and names the problem). inet_pton accepts only canonical dotted quads (no leading
    zeros, four parts: property-tested against ipaddress), so the text needs no rewriting. ipaddress costs about
    30 us per address; this a tenth of that."""
    if type(dest_text) is not str or type(via_text) is not str:  # pylint: disable=unidiomatic-typecheck
        return False
    net_text, _sep, plen_text = dest_text.partition('/')
    plen = _PLENS.get(plen_text)
    if plen is None:
        return False
    try:
        net = int.from_bytes(_PTON(_AF_INET, net_text), 'big')
        via = int.from_bytes(_PTON(_AF_INET, via_text), 'big')
    except (OSError, ValueError):
        return False
    mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
    host_bits = net & ~mask & 0xFFFFFFFF                                   # dest not a network address
    bad_via = via in (0, 0xFFFFFFFF) or via >> 28 == 14 or via >> 24 == 127  # unspecified, broadcast, multicast, loopback
    return not (host_bits or bad_via or via & mask == net)                 # ... or via inside its own dest


def parse_wanted(entries, metric=None):
    """Validate the ``routes`` option. Returns a list of ``WRoute`` (deduplicated, input order)."""
    errors = []
    wanted = []
    by_dest = {}
    m4 = DEFAULT_METRIC[4] if metric is None else None
    fast_v4 = _fast_v4
    for i, entry in enumerate(entries or []):
        if m4 is not None and type(entry) is dict:  # pylint: disable=unidiomatic-typecheck
            dest_text = entry.get('dest')
            via_text = entry.get('via')
            if fast_v4(dest_text, via_text):
                prev = by_dest.get(dest_text)
                if prev is None:
                    w = WRoute(4, dest_text, via_text, m4, entry.get('host'))
                    by_dest[dest_text] = w
                    wanted.append(w)
                    continue
                if prev.via == via_text:
                    continue
        label = _label(entry, i)
        if not isinstance(entry, dict):
            errors.append('%s: %r is not a dict with dest and via' % (label, entry))
            continue
        dest_text = entry.get('dest')
        via_text = entry.get('via')
        try:
            if not isinstance(dest_text, str) or '/' not in dest_text:
                raise ValueError(dest_text)
            dest = ipaddress.ip_network(dest_text.strip(), strict=True)
        except ValueError:
            errors.append('%s: dest %r is not a network address in CIDR form' % (label, dest_text))
            continue
        try:
            if not isinstance(via_text, str) or '%' in via_text:
                raise ValueError(via_text)
            via = ipaddress.ip_address(via_text.strip())
        except ValueError:
            errors.append('%s: via %r is not an IP address' % (label, via_text))
            continue
        if dest.version != via.version:
            errors.append('%s: dest %s is IPv%d but via %s is IPv%d' % (label, dest, dest.version, via, via.version))
            continue
        if via.is_unspecified or via.is_multicast or via.is_loopback or via == _BROADCAST:
            errors.append('%s: next hop %s for %s is not a unicast address of a peer' % (label, via, dest))
            continue
        if via in dest:
            errors.append('%s: next hop %s lies inside its own destination %s' % (label, via, dest))
            continue
        m = DEFAULT_METRIC[dest.version] if metric is None else _metric(metric, dest.version)
        w = WRoute(dest.version, str(dest), str(via), m, entry.get('host'))
        prev = by_dest.get(w.dest)
        if prev is not None:
            if prev.via != w.via:
                errors.append('%s: dest %s is wanted via both %s%s and %s' % (
                    label, w.dest, prev.via, ' (peer %s)' % prev.host if prev.host else '', w.via))
            continue
        by_dest[w.dest] = w
        wanted.append(w)
    if errors:
        raise RouteError(errors)
    return wanted


def check_next_hops(wanted, addrs, dev_index, dev_name, errors=None):
    """The L2 check host-gw depends on. Returns (routes to install, routes skipped because the next hop is us).

    Every next hop must be on-link on the uplink: inside a prefix of an address on ``dev`` (or IPv6
    link-local). A next hop that is one of this host's own addresses means the route is this host's own
    subnet: it is skipped, never installed. Raises ``RouteError`` naming each off-link peer, or, given a list
    ``errors``, appends the messages to it and returns the on-link routes (the boot restore installs those).
    """
    collect = errors
    local = set()
    local4 = set()
    nets = []
    for a in addrs:
        ip = ipaddress.ip_address(a.address)
        local.add(ip)
        if ip.version == 4:
            local4.add(int(ip))
        if a.index == dev_index:
            nets.append(ipaddress.ip_interface('%s/%d' % (a.address, a.prefixlen)).network)
    onlink = OnLink(nets)     # the one on-link definition (pre-flight uses it too)
    keep, skipped, errors = [], [], []
    for w in wanted:
        if w.family == 4:
            v = _v4(w.via)    # the common case as an int: 10x faster than ipaddress
            if v is not None:
                if v in local4:
                    skipped.append(w)
                    continue
                if onlink.contains_int(4, v):
                    keep.append(w)
                    continue
        via = ipaddress.ip_address(w.via)
        if via in local:
            skipped.append(w)
            continue
        if via not in onlink:
            errors.append('%s: next hop %s for %s is not on-link on %s (%s): host-gw needs every node on one L2 segment'
                          % ('peer %s' % w.host if w.host else 'route', w.via, w.dest, dev_name,
                             onlink.describe(w.family) if any(n.version == w.family for n in nets)
                             else 'no IPv%d address' % w.family))
            continue
        keep.append(w)
    if errors and collect is not None:
        collect.extend(errors)
    elif errors:
        raise RouteError(errors)
    return keep, skipped


def diff_routes(wanted, existing, dev_index, proto=DEFAULT_PROTO, purge=True, conflicts=None, nh_ids=None, names=None):
    """Compare wanted routes with the kernel's main table.

    ``existing``: every ``KRoute`` of the main table (both families). Owned routes carry ``proto``.
    A foreign route (any other protocol) on a wanted destination is a conflict: ``RouteError`` naming it;
    foreign routes are otherwise never touched. With ``purge``, owned routes not wanted are deleted.
    ``conflicts``: a list to collect the conflict messages in instead of raising: the boot
    restore installs everything else and reports each conflict.
    ``nh_ids``: ``{next hop: next-hop object id}`` when routes go through kernel next-hop objects; a route is then
    right only if it uses that object (and, without ``nh_ids``, only if it uses none): the other mode's routes are
    replaced in place, never deleted first.
    ``names``: ``{link index: name}``, to name links in the conflict messages (else ``if<index>``).
    """
    one = {}       # destination: its route, while it has one (the common case: no list per destination)
    by_dest = {}   # destination: every route, for destinations with more than one
    for r in existing:
        d = r.dest
        if d in one:
            by_dest.setdefault(d, [one[d]]).append(r)
        else:
            one[d] = r
    changes = RouteChanges()
    errors = []
    wanted_dests = set(w.dest for w in wanted)
    for w in wanted:
        routes = by_dest.get(w.dest)
        if routes is None:
            r = one.get(w.dest)
            if r is None:
                changes.add.append(w)
                continue
            if r.proto == proto and r.via == w.via and r.oif == (w.oif or dev_index) and r.metric == w.metric \
                    and r.rtype == 1 and r.nhid == (nh_ids.get(w.via) if nh_ids is not None else None):
                changes.unchanged += 1
                continue
            routes = (r,)
        foreign = [r for r in routes if r.proto != proto]
        if foreign:
            errors.append('%s: destination %s is held by a route hostgw does not own (%s); remove it or change the plan'
                          % ('peer %s' % w.host if w.host else 'route', w.dest,
                             '; '.join(describe_kroute(r, names) for r in foreign)))
            continue
        owned = [r for r in routes if r.proto == proto]
        want_nh = nh_ids.get(w.via) if nh_ids is not None else None
        exact = [r for r in owned
                 if (r.via, r.oif, r.metric, r.rtype, r.nhid) == (w.via, w.oif or dev_index, w.metric, 1, want_nh)]
        if exact:
            changes.unchanged += 1
            changes.delete.extend(r for r in owned if r is not exact[0])
            continue
        same_slot = [r for r in owned if r.metric == w.metric]
        if same_slot and w.family == 6 and w.onlink and same_slot[0].oif != w.oif:
            # IPv6 checks an onlink gateway against the table: the route being replaced (the peer's subnet via the
            # uplink) holds the gateway, on another link, and the kernel refuses a plain replacement (EINVAL): the
            # apply puts a host route to the gateway on the new link first (_node._apply_routes).
            changes.move.append((same_slot[0], w))
            changes.delete.extend(r for r in owned if r is not same_slot[0])
        elif same_slot:
            changes.replace.append((same_slot[0], w))
            changes.delete.extend(r for r in owned if r is not same_slot[0])
        else:
            changes.add.append(w)
            changes.delete.extend(owned)
    if errors and conflicts is None:
        raise RouteError(errors)
    if conflicts is not None:
        conflicts.extend(errors)
    if purge:
        for dest, r in one.items():
            if dest not in wanted_dests:
                changes.delete.extend(x for x in by_dest.get(dest, (r,)) if x.proto == proto)
    return changes


def describe_kroute(r, names=None):
    dev = (names or {}).get(r.oif, 'if%s' % r.oif if r.oif is not None else '?')
    parts = [r.dest]
    if r.rtype not in (None, 1):
        parts.insert(0, {6: 'blackhole', 7: 'unreachable', 8: 'prohibit'}.get(r.rtype, 'type %d' % r.rtype))
    if r.via:
        parts.append('via %s' % r.via)
    parts.append('dev %s' % dev)
    parts.append('proto %s' % r.proto)
    parts.append('metric %s' % r.metric)
    return ' '.join(parts)


def owned_lines(existing, proto, names):
    """Sorted human-readable lines of the routes hostgw owns (for --diff)."""
    return sorted(route_line(r.family, r.dest, r.via, names.get(r.oif, r.oif), proto, r.metric, r.nhid)
                  for r in existing if r.proto == proto)


def after_lines(existing, changes, dev_name, proto, names, nh_ids=None):
    """The owned routes once ``changes`` are applied (for --diff)."""
    gone = set(id(r) for r in changes.delete) | set(id(old) for old, _new in changes.replace + changes.move)
    nh = nh_ids or {}
    lines = [route_line(r.family, r.dest, r.via, names.get(r.oif, r.oif), proto, r.metric, r.nhid)
             for r in existing if r.proto == proto and id(r) not in gone]
    lines.extend(wanted_line(w, dev_name, proto, names, nh.get(w.via)) for w in changes.add)
    lines.extend(wanted_line(w, dev_name, proto, names, nh.get(w.via)) for _old, w in changes.replace + changes.move)
    return sorted(lines)


def plan_nexthops(keep, nexthops, dev_index, proto):
    """Next-hop objects for the wanted routes: ``(ids, add)``.

    ``ids``: ``{next hop: id}`` for every next hop of ``keep``; an owned object (protocol ``proto``) with that
    gateway on the route's link (``dev_index``, or the VXLAN device's for a route through it, onlink) is reused,
    else a new id is taken, the lowest free one from ``proto * NH_ID_STEP`` (never an id any object already has).
    ``add``: the ``KNexthop`` objects to create. Foreign objects are never used or changed.
    """
    taken = set(n.id for n in nexthops)
    owned = {}
    for n in nexthops:
        if n.proto == proto and not n.group and n.via:
            owned.setdefault((n.via, n.oif, bool(n.onlink)), n.id)
    ids, add = {}, []
    next_id = proto * NH_ID_STEP
    for w in keep:
        if w.via in ids:
            continue
        key = (w.via, w.oif or dev_index, bool(w.onlink))
        if key in owned:
            ids[w.via] = owned[key]
            continue
        while next_id in taken:
            next_id += 1
        taken.add(next_id)
        ids[w.via] = next_id
        add.append(KNexthop(next_id, w.family, w.via, key[1], proto, False, key[2]))
    return ids, add


def unused_nexthops(nexthops, existing, changes, proto, keep_ids=()):
    """Owned next-hop objects no route uses once ``changes`` are made (deleting an object deletes its routes:
    one any route still uses, foreign or owned, is never deleted)."""
    keep = set(keep_ids)
    candidates = [n for n in nexthops if n.proto == proto and n.id not in keep]
    if not candidates:
        return []     # the common case (every owned object is wanted): no need to look at the routes
    gone = set(id(r) for r in changes.delete) | set(id(old) for old, _new in changes.replace + changes.move)
    used = set(r.nhid for r in existing if r.nhid and id(r) not in gone)
    return [n for n in candidates if n.id not in used]


def plan_routes(keep, existing, nexthops, dev_index, proto, use_nh, purge=True, conflicts=None, names=None):
    """The whole route plan of a node, in both modes: ``(changes, nh_ids, nh_add, nh_delete)``.

    ``use_nh``: routes go through kernel next-hop objects (one owned object per peer); else plain ``via`` routes.
    Switching mode replaces the routes in place (no moment without a route) and then deletes the owned objects no
    route uses any more. ``nexthops``: the kernel's objects (None or [] when it has none). Without ``purge``
    (the boot restore) nothing is deleted.
    """
    nexthops = nexthops or []
    nh_ids, nh_add = plan_nexthops(keep, nexthops, dev_index, proto) if use_nh else (None, [])
    changes = diff_routes(keep, existing, dev_index, proto, purge, conflicts, nh_ids, names)
    nh_delete = unused_nexthops(nexthops, existing, changes, proto, (nh_ids or {}).values()) if purge else []
    return changes, nh_ids, nh_add, nh_delete


def nexthop_line(n, names):
    onlink = ' onlink' if getattr(n, 'onlink', False) else ''
    return 'id %d via %s dev %s proto %s%s' % (n.id, n.via, names.get(n.oif, n.oif), n.proto, onlink)
