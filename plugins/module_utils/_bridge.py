# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure, I/O-free planning for ``cni_bridge``: validation and the address/MTU/link diff."""

from __future__ import annotations

import ipaddress

from ansible_collections.hostgw.network.plugins.module_utils._mesh import IFNAME
from ansible_collections.hostgw.network.plugins.module_utils._routes import is_link_local

__metaclass__ = type  # pylint: disable=invalid-name

#: The alias hostgw writes on bridges it manages; ``state=absent`` deletes only bridges carrying it.
OWNER_ALIAS = 'hostgw: managed bridge'


class BridgeError(Exception):
    pass


def validate_name(name):
    if not isinstance(name, str) or not IFNAME.match(name) or name in ('.', '..'):
        raise BridgeError('bridge name %r is not a valid interface name (1-15 characters of letters, digits, _ . -)' % (name,))
    return name


def parse_addresses(values):
    """``['10.244.1.1/24', 'fd00::1/64']`` -> canonical ``['10.244.1.1/24', 'fd00::1/64']``. One per family at most."""
    out = []
    families = {}
    for value in values or []:
        text = str(value).strip()
        try:
            iface = ipaddress.ip_interface(text)
        except ValueError:
            raise BridgeError('gateway address %r is not an address with a prefix length (like 10.244.1.1/24)' % (value,))
        if '/' not in text:
            raise BridgeError('gateway address %r needs a prefix length (like %s/24)' % (value, text))
        if iface.ip == iface.network.network_address and iface.network.prefixlen < iface.max_prefixlen - 1:
            raise BridgeError('gateway address %s is the network address of %s; use the first host address %s'
                              % (text, iface.network, iface.network.network_address + 1))
        if iface.version == 4 and iface.ip == iface.network.broadcast_address and iface.network.prefixlen < 31:
            raise BridgeError('gateway address %s is the broadcast address of %s; use the first host address %s'
                              % (text, iface.network, iface.network.network_address + 1))
        if iface.version in families:
            raise BridgeError('two IPv%d gateway addresses given (%s and %s); give one per family'
                              % (iface.version, families[iface.version], text))
        canon = '%s/%d' % (iface.ip, iface.network.prefixlen)
        families[iface.version] = canon
        out.append(canon)
    return out


def _is_managed_v6_link_local(addr):
    """Link-local addresses belong to the kernel (one definition: ``_routes.is_link_local``)."""
    return is_link_local(addr)


def plan_bridge(link, current_addrs, want_addrs, mtu=None, state='present'):
    """Return the list of actions that bring the bridge to the wanted state.

    ``link``: ``None`` or a dict with ``kind``, ``mtu``, ``up``, ``alias``, ``name``.
    ``current_addrs``: addresses on the link as ``'ip/len'``.
    Actions: ``('create',)``, ``('delete',)``, ``('mtu', n)``, ``('up',)``, ``('alias', text)``,
    ``('addr_del', a)``, ``('addr_add', a)``, in the order they should run.
    """
    if state == 'absent':
        if link is None:
            return []
        if link.get('kind') != 'bridge':
            raise BridgeError('%s is a %s link, not a bridge: refusing to delete it' % (link.get('name'), link.get('kind') or 'non-bridge'))
        if link.get('alias') != OWNER_ALIAS:
            raise BridgeError('bridge %s was not created or adopted by hostgw (its alias is %r, not %r): refusing to delete it'
                              % (link.get('name'), link.get('alias'), OWNER_ALIAS))
        return [('delete',)]

    actions = []
    if link is None:
        actions.append(('create',))
        have_mtu, up, alias = None, False, None
        current_addrs = []
    else:
        if link.get('kind') != 'bridge':
            raise BridgeError('%s exists and is a %s link, not a bridge: refusing to touch it (choose another bridge name)'
                              % (link.get('name'), link.get('kind') or 'non-bridge'))
        have_mtu, up, alias = link.get('mtu'), link.get('up'), link.get('alias')
    if alias != OWNER_ALIAS:
        actions.append(('alias', OWNER_ALIAS))
    if mtu is not None and have_mtu != mtu:
        actions.append(('mtu', mtu))
    want = set(want_addrs)
    # Remove stale addresses first (an old subnet's gateway: Flannel #1013), then add.
    for a in sorted(current_addrs):
        if a not in want and not _is_managed_v6_link_local(a):
            actions.append(('addr_del', a))
    have = set(current_addrs)
    for a in want_addrs:
        if a not in have:
            actions.append(('addr_add', a))
    if not up:
        actions.append(('up',))
    return actions


def describe(name, link, addrs):
    """Text for --diff: the bridge as it is (or would be)."""
    if link is None:
        return ''
    lines = ['%s: bridge mtu %s %s' % (name, link.get('mtu'), 'up' if link.get('up') else 'down')]
    lines.extend('  inet%s %s' % ('6' if ':' in a else '', a) for a in sorted(addrs) if not _is_managed_v6_link_local(a))
    return '\n'.join(lines) + '\n'


def apply_to_view(name, link, addrs, actions):
    """The (link, addrs) view after ``actions``, for the --diff 'after' side."""
    if link is not None:
        link = dict(link)
    addrs = list(addrs)
    for act in actions:
        if act[0] == 'create':
            link = {'name': name, 'kind': 'bridge', 'mtu': 1500, 'up': False, 'alias': None}
            addrs = []
        elif act[0] == 'delete':
            return None, []
        elif act[0] == 'mtu':
            link['mtu'] = act[1]
        elif act[0] == 'up':
            link['up'] = True
        elif act[0] == 'alias':
            link['alias'] = act[1]
        elif act[0] == 'addr_del':
            addrs.remove(act[1])
        elif act[0] == 'addr_add':
            addrs.append(act[1])
    return link, addrs
