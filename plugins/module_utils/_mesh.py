# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one definition of the uplink, of on-link and of the allowed ranges, shared by controller and node code.

No Ansible imports and no I/O: the action plugins (planner, pre-flight) and the node modules (``hostgw_route``,
``cni_bridge``) import it alike, so they cannot disagree.

Shapes (plain data, as ``hostgw_facts`` reports them; a module adapts its kernel objects to them):

- a link: a mapping with ``name`` and ``mtu``;
- an address: a mapping with ``ifname``, ``address`` and ``prefixlen`` (``family`` optional).
"""

from __future__ import annotations

import bisect
import ipaddress
import re

__metaclass__ = type  # pylint: disable=invalid-name

#: Route protocol numbers hostgw may own (0-4 belong to the kernel: unspec, redirect, kernel, boot, static).
PROTO_MIN, PROTO_MAX = 5, 255
#: MTU of the bridge: 0 means "the uplink's", else the kernel's range for an IPv4-capable link.
MTU_MIN, MTU_MAX = 68, 65535
#: Interface names (bridge, uplink): 1-15 characters of letters, digits, _ . - (``\\Z``: no trailing newline).
IFNAME = re.compile(r'[A-Za-z0-9_.-]{1,15}\Z')
#: The CNI configuration file name: a plain file name, never a path.
CONF_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]{0,200}\.(conflist|conf|json)\Z')
#: Directories and programs hostgw writes or names in systemd units: absolute, no quoting needed anywhere.
SAFE_PATH = re.compile(r'/[A-Za-z0-9_./+-]*\Z')


def _who(host):
    return 'host %s: ' % host if host else ''


def proto_error(value, what='hostgw_route_proto', host=None):
    """Why ``value`` is not an allowed route protocol number, or None."""
    if isinstance(value, bool) or not isinstance(value, int) or not PROTO_MIN <= value <= PROTO_MAX:
        return ('%s%s %r is not allowed: use %d-%d (0-4 belong to the kernel, boot and static routes)'
                % (_who(host), what, value, PROTO_MIN, PROTO_MAX))
    return None


def mtu_error(value, what='hostgw_mtu', host=None):
    """Why ``value`` is not an allowed bridge MTU (0 = the uplink's), or None."""
    if isinstance(value, bool) or not isinstance(value, int) or not (value == 0 or MTU_MIN <= value <= MTU_MAX):
        return "%s%s %r is out of range: 0 (the uplink's MTU) or %d-%d" % (_who(host), what, value, MTU_MIN, MTU_MAX)
    return None


def ifname_error(value, what='hostgw_bridge', host=None, kind='bridge'):
    """Why ``value`` is not a valid interface name, or None (``kind``: what the name is for, in the message)."""
    if not isinstance(value, str) or not IFNAME.match(value) or value in ('.', '..'):
        return ('%s%s: %s name %r is not a valid interface name (1-15 characters of letters, digits, _ . -)'
                % (_who(host), what, kind, value))
    return None


def conf_name_error(value, what='hostgw_cni_conf_name', host=None):
    """Why ``value`` is not a plain CNI configuration file name, or None."""
    if not isinstance(value, str) or not CONF_NAME.match(value):
        return '%s%s %r must be a plain file name ending in .conflist, .conf or .json' % (_who(host), what, value)
    return None


def path_error(value, what, host=None):
    """Why ``value`` is not an absolute path hostgw can write to and name in a systemd unit, or None."""
    if not isinstance(value, str) or not SAFE_PATH.match(value) or '/../' in value + '/':
        return ('%s%s %r must be an absolute path of letters, digits and _ . / + - only (no .. component)'
                % (_who(host), what, value))
    return None


def find_uplink(links, addrs, node_ip, uplink=None, host=None, uplink_var='hostgw_iface'):
    """The uplink of a node: ``(name, mtu, errors)``.

    The uplink is ``uplink`` when given (it must exist, and hold ``node_ip`` when that is given), else the link
    holding ``node_ip``.
    ``name`` is None when it cannot be found; ``errors`` lists why (each naming ``host`` when given, the variable
    and the value). ``links``/``addrs``: see the module docstring.
    """
    errors = []
    by_name = {}
    for link in links or ():
        by_name[link.get('name')] = link
    holder = None
    want = _ip(node_ip)
    if want is not None:
        text = str(want)    # canonical text first (what facts hold), then by value (other spellings)
        holder = next((a.get('ifname') for a in addrs or () if a.get('address') == text), None)
        if holder is None:
            holder = next((a.get('ifname') for a in addrs or () if _ip(a.get('address')) == want), None)
    if holder is None and (want is not None or not uplink):    # a node module may name the uplink without a node IP
        listed = ', '.join(sorted('%s on %s' % (a.get('address'), a.get('ifname')) for a in addrs or ()
                                  if a.get('family', 4) == 4)) or 'none'
        errors.append('%snode IP %s is not an address of the host (addresses: %s); set hostgw_node_ip to the '
                      'address of its uplink' % (_who(host), node_ip, listed))
    if uplink:
        if uplink not in by_name:
            errors.append('%suplink %s=%s does not exist (links: %s)'
                          % (_who(host), uplink_var, uplink, ', '.join(sorted(str(n) for n in by_name))))
            return None, None, errors
        if holder is not None and holder != uplink:
            errors.append('%snode IP %s is on %s, not on %s=%s' % (_who(host), node_ip, holder, uplink_var, uplink))
        return uplink, by_name[uplink].get('mtu'), errors
    if holder is None:
        return None, None, errors
    return holder, (by_name.get(holder) or {}).get('mtu'), errors


def _ip(value):
    try:
        return ipaddress.ip_address(str(value).strip())
    except ValueError:
        return None


def onlink_networks(addrs, ifname):
    """The networks of the addresses on link ``ifname`` (what a next hop must lie in to be on-link there)."""
    nets = []
    for a in addrs or ():
        if a.get('ifname') == ifname:
            try:
                nets.append(ipaddress.ip_interface('%s/%s' % (a.get('address'), a.get('prefixlen'))).network)
            except ValueError:
                continue
    return nets


class OnLink:
    """On-link test against a set of networks: ``ip in onlink`` (IPv6 link-local is always on-link).

    Networks are merged into sorted integer ranges per family, so a test is O(log n) and counting how many of a
    sorted list of addresses are on-link is O(ranges * log N): pre-flight checks N peers on N nodes in O(N log N).
    """

    def __init__(self, networks):
        self.networks = list(networks)
        self._ranges = {4: [], 6: []}
        for version in (4, 6):
            nets = ipaddress.collapse_addresses(n for n in self.networks if n.version == version)
            self._ranges[version] = [(int(n.network_address), int(n.broadcast_address)) for n in nets]
        self._starts = dict((v, [r[0] for r in self._ranges[v]]) for v in (4, 6))

    def __contains__(self, ip):
        ip = ip if isinstance(ip, (ipaddress.IPv4Address, ipaddress.IPv6Address)) else ipaddress.ip_address(ip)
        if ip.version == 6 and ip.is_link_local:
            return True
        return self.contains_int(ip.version, int(ip))

    def contains_int(self, version, n):
        i = bisect.bisect_right(self._starts[version], n) - 1
        return i >= 0 and n <= self._ranges[version][i][1]

    def describe(self, version):
        """The networks of ``version`` as text, for messages."""
        return ', '.join(str(n) for n in self.networks if n.version == version) or 'no address'

    def count_in(self, version, sorted_ints):
        """How many of ``sorted_ints`` (integers of addresses of ``version``, ascending) are on-link."""
        total = 0
        for lo, hi in self._ranges[version]:
            total += bisect.bisect_right(sorted_ints, hi) - bisect.bisect_left(sorted_ints, lo)
        return total

    def first_outside(self, version, sorted_ints, limit):
        """Up to ``limit`` positions in ``sorted_ints`` of addresses that are not on-link, ascending."""
        out = []
        pos = 0
        for lo, hi in self._ranges[version] + [(None, None)]:
            end = len(sorted_ints) if lo is None else bisect.bisect_left(sorted_ints, lo)
            while pos < end and len(out) < limit:
                out.append(pos)
                pos += 1
            if len(out) >= limit or lo is None:
                break
            pos = max(pos, bisect.bisect_right(sorted_ints, hi))
        return out


def first_address(subnet):
    """The pods' gateway of a subnet (CIDR text): its first address, without the prefix length."""
    net = ipaddress.ip_network(subnet)
    return str(net.network_address + 1)


def member_routes(hosts):
    """The mesh's routes from a plan's ``hosts`` (``{name: {subnet, node_ip, subnet6, node_ip6, ...}}``): one
    ``{host, dest, via}`` per member and family, in name order (every node gets the same list; the node's own entry
    is skipped where it is applied). Entries without a subnet or node IP, and keys other than these, are ignored."""
    routes = []
    if not isinstance(hosts, dict):
        return routes
    for name in sorted(hosts):
        h = hosts[name]
        if not isinstance(h, dict):
            continue
        for dest, via in ((h.get('subnet'), h.get('node_ip')), (h.get('subnet6'), h.get('node_ip6'))):
            if dest and via:
                routes.append({'host': name, 'dest': dest, 'via': via})
    return routes
