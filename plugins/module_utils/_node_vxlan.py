# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The VXLAN part of ``_node.routes`` (``cross_subnet: vxlan``): read the device and its entries through the netlink
seam, plan with ``_vxlan``, apply in the order the routes need (device, FDB, neighbors before the routes; stale
neighbors, FDB entries and the device after them). Under both policies of ``_node`` (run time converges, boot only
adds and replaces what is hostgw's). A link of the device's name that is not hostgw's VXLAN device, or a foreign
VXLAN device on the same UDP port, is never touched.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.hostgw.network.plugins.module_utils import _vxlan
from ansible_collections.hostgw.network.plugins.module_utils._mesh import OnLink
from ansible_collections.hostgw.network.plugins.module_utils._routes import RouteError, WRoute, is_link_local

__metaclass__ = type  # pylint: disable=invalid-name

#: The link index encapsulated routes show in check mode before the device exists.
NOT_YET = -1


def mode_of(p):
    """``(mode, options)`` of ``hostgw_route``'s ``cross_subnet`` and ``vxlan``; ``RouteError`` naming a bad value."""
    mode = p.get('cross_subnet') or 'fail'
    if mode not in _vxlan.MODES:
        raise RouteError(['cross_subnet %r is not one of %s' % (mode, ', '.join(_vxlan.MODES))])
    try:
        return mode, _vxlan.options(p.get('vxlan'))
    except _vxlan.VxlanError as e:
        raise RouteError([str(e)])


def owned_devices(links):
    return [x for x in links if x.get('kind') == 'vxlan' and x.get('alias') == _vxlan.OWNER_ALIAS]


def _peers_of(entries):
    """``Peer`` tuples from saved entries (``{host, node_ip, subnet, subnet6}``: what the boot state records)."""
    return [_vxlan.peer_of(e.get('host') or e['node_ip'], e) for e in entries or []]


class VxPlan:
    """What the node needs: ``direct`` route entries, encapsulated ``peers``, the device ``spec`` (None without
    peers), its current ``link`` (None when absent), device ``actions``, FDB / neighbor changes, ``errors``."""

    def __init__(self, name):
        self.name = name
        self.direct, self.peers, self.spec, self.link = [], [], None, None
        self.actions, self.after = [], []
        self.fdb_put, self.neigh_put, self.neigh_del, self.fdb_del = [], [], [], []
        self.before_lines, self.after_lines = [], []
        self.my_ip = None
        self.subnets = []
        self.applied_index = None
        self.fdb_fix = []    # remotes of a wanted MAC that are not the peer's: deleted before the entry is put

    @property
    def index(self):
        return self.link['index'] if self.link is not None and not self.recreate else NOT_YET

    @property
    def recreate(self):
        return any(a[0] == 'recreate' for a in self.actions)

    @property
    def changed(self):
        return bool(self.actions or self.after or self.fdb_put or self.neigh_put or self.neigh_del or self.fdb_del)

    def encapsulated_routes(self, metric_of, index=None):
        index = self.index if index is None else index
        out = []
        for peer in self.peers:
            for family, dest, vtep in peer.vteps:
                out.append(WRoute(family, dest, vtep, metric_of(family), peer.host, index, True))
        return out

    def lines(self):
        dev = self.name
        out = [_vxlan.fdb_line(e, dev) for e in self.fdb_put] + [_vxlan.neigh_line(e, dev) for e in self.neigh_put]
        out += ['delete ' + _vxlan.neigh_line(e, dev) for e in self.neigh_del]
        out += ['delete ' + _vxlan.fdb_line(e, dev) for e in self.fdb_del]
        return ['%s %s' % (a[0], a[1]) if len(a) > 1 else a[0] for a in self.actions] + out + \
            ['%s %s' % (a[0], a[1]) for a in self.after]


def _me(p, members, local_ips):
    """This node's node IP and its member entry (the member whose node IP is one of this host's addresses)."""
    if p.get('node_ip'):
        for entry in (members or {}).values():
            if isinstance(entry, dict) and entry.get('node_ip') == p['node_ip']:
                return p['node_ip'], entry
        return p['node_ip'], {}
    for entry in (members or {}).values():
        if isinstance(entry, dict) and entry.get('node_ip') in local_ips:
            return entry['node_ip'], entry
    return None, {}


def plan(p, kernel, links, addrs, dev_index, policy, conflicts):
    """The VXLAN plan of one node (see ``VxPlan``). ``links``/``addrs``: what the kernel has (read once by the caller);
    ``dev_index``: the uplink. Raises ``RouteError`` for a link hostgw must not touch (collected in ``conflicts``
    instead when it is a list: the boot restore then restores the direct routes and reports the rest)."""
    _mode, opts = mode_of(p)
    vx = VxPlan(opts['name'])
    local_ips = set(a.address for a in addrs)
    uplink_nets = [ipaddress.ip_interface('%s/%d' % (a.address, a.prefixlen)).network
                   for a in addrs if a.index == dev_index and not is_link_local(a.address)]
    saved = p.get('vxlan_state')
    if saved:      # the boot restore: the split was made at run time and saved
        vx.direct = list(p.get('routes') or [])
        vx.peers = _peers_of(saved.get('peers'))
        vx.my_ip, vx.subnets = saved.get('node_ip'), list(saved.get('subnets') or [])
    else:
        members = p.get('members')
        vx.my_ip, me = _me(p, members, local_ips)
        if vx.my_ip is None:
            raise RouteError(['cross_subnet vxlan: none of the members is this host (no member node IP is an address '
                              'here); give node_ip'])
        # This node's network as the plan records it (what every peer decides by, so the pair agrees), else the
        # kernel's networks on the uplink. A direct peer must still be on-link in the kernel (checked with the routes).
        mine = _vxlan.node_network(vx.my_ip, me.get('node_prefix'))
        vx.direct, vx.peers = _vxlan.split_members(members, vx.my_ip, OnLink([mine] if mine else uplink_nets), local_ips)
        vx.subnets = [s for s in (me.get('subnet'), me.get('subnet6')) if s]
    by_name = dict((x['name'], x) for x in links)
    link = by_name.get(vx.name)
    problems = []
    if link is not None and (link.get('kind') != 'vxlan' or link.get('alias') != _vxlan.OWNER_ALIAS):
        problems.append('a link named %s exists that hostgw does not own (kind %s, alias %r): left as it is; set '
                        'vxlan.name to another name or remove it' % (vx.name, link.get('kind'), link.get('alias')))
    for other in links:
        info = other.get('vxlan') or {}
        if other is not link and other.get('kind') == 'vxlan' and info.get('port') == opts['port']:
            # Another VNI on the port would work in the kernel, but hostgw's firewall guards the port, not the VNI.
            problems.append('VXLAN device %s uses UDP port %d already (another overlay, such as Flannel\'s flannel.1): '
                            'set vxlan.port to another port' % (other['name'], opts['port']))
    if problems:
        if conflicts is None:
            raise RouteError(problems)
        conflicts.extend(problems)
        vx.peers = []
        return vx
    vx.link = link
    uplink = next((x for x in links if x['index'] == dev_index), {})
    if vx.peers:
        vx.spec = _vxlan.device_spec(vx.name, opts['vni'], opts['port'], vx.my_ip, dev_index, uplink.get('mtu'),
                                     vx.subnets)
        _plan_device(vx, addrs, policy)
    elif link is not None and policy.delete:
        vx.after.append(('delete', vx.name))
    fdb_now, neigh_now = [], []
    if link is not None:
        # One dump each, for the plan and the --diff's before.
        fdb_now = [e for e in kernel.fdb() if e.index == link['index']]
        neigh_now = [e for e in kernel.neighbors() if e.index == link['index'] and not e.state & _vxlan.NUD_NOARP]
        vx.before_lines = _device_lines(link, addrs, fdb_now, neigh_now)
    if vx.spec is not None:
        if vx.recreate:
            fdb_now, neigh_now = [], []      # the new device starts empty
        vx.fdb_put, vx.neigh_put, vx.neigh_del, vx.fdb_del = _vxlan.plan_entries(
            vx.peers, vx.index, fdb_now, neigh_now, delete=policy.delete)
        vx.fdb_fix = _vxlan.stale_remotes(vx.peers, vx.index, fdb_now)
        fdb, neigh = _vxlan.wanted_entries(vx.peers)
        vx.after_lines = [_vxlan.device_line(vx.spec)] + ['address %s' % a for a in vx.spec['addresses']] + \
            [_vxlan.fdb_line(_vxlan.KFdb(0, mac, dst, _vxlan.NUD_PERMANENT), vx.name) for mac, dst in sorted(fdb.items())] + \
            [_vxlan.neigh_line(_vxlan.KNeigh(0, family, ip, mac, _vxlan.NUD_PERMANENT), vx.name)
             for (family, ip), mac in sorted(neigh.items())]
    return vx


def _device_lines(link, addrs, fdb_now, neigh_now):
    """The device as it is, for --diff: its settings, addresses, FDB and neighbor entries."""
    info = link.get('vxlan') or {}
    spec = dict(name=link['name'], vni=info.get('id') or 0, port=info.get('port') or 0, local=info.get('local'),
                mtu=link.get('mtu'), mac=link.get('mac'))
    line = _vxlan.device_line(spec)
    if info.get('learning'):
        line = line.replace(' nolearning', ' learning')
    lines = [line]
    lines += ['address %s/%d' % (a.address, a.prefixlen) for a in addrs
              if a.index == link['index'] and not is_link_local(a.address)]
    lines += [_vxlan.fdb_line(e, link['name']) for e in fdb_now if e.dst]
    lines += [_vxlan.neigh_line(e, link['name']) for e in neigh_now]
    return lines


def _plan_device(vx, addrs, policy):
    spec, link = vx.spec, vx.link
    if link is None:
        vx.actions.append(('create', _vxlan.device_line(spec)))
        have = []
    else:
        why = _vxlan.device_differs(link, spec)
        if why:
            vx.actions.append(('recreate', '%s (%s)' % (_vxlan.device_line(spec), why)))
            have = []
        else:
            if spec['mtu'] and link.get('mtu') != spec['mtu']:
                vx.actions.append(('mtu', spec['mtu']))
            if not link.get('up'):
                vx.actions.append(('up',))
            have = ['%s/%d' % (a.address, a.prefixlen) for a in addrs
                    if a.index == link['index'] and not is_link_local(a.address)]
    for a in spec['addresses']:
        if a not in have:
            vx.actions.append(('addr_add', a))
    if policy.delete:
        vx.actions.extend(('addr_del', a) for a in have if a not in spec['addresses'])


def apply_before(vx, kernel, failures, policy, link_action):
    """The device and the entries the routes need. Returns False when the device could not be made (the
    encapsulated routes are then not planned); raises ``OSError`` under a policy that does not keep going.
    ``link_action(kernel, name, index, act)``: how the bridge's ``mtu``, ``up`` and ``addr_del`` are made (the same
    calls for this device)."""
    index = vx.link['index'] if vx.link is not None else None
    done = []
    for act in vx.actions:
        try:
            if act[0] in ('create', 'recreate'):
                if act[0] == 'recreate':
                    kernel.link_del(index)
                index = kernel.vxlan_create(vx.spec, _vxlan.OWNER_ALIAS)
                vx.link = dict(index=index, name=vx.name)
            elif act[0] == 'addr_add':
                kernel.host_addr_add(index, act[1])   # a /32 or /128: one request of the seam's own
            else:
                link_action(kernel, vx.name, index, act)
        except OSError as e:
            if not policy.keep_going:
                e.hostgw_done = done
                e.hostgw_action = act
                raise
            failures.append(dict(change='vxlan %s' % ' '.join(str(x) for x in act), errno=getattr(e, 'errno', None),
                                 error=str(e)))
            if act[0] in ('create', 'recreate'):
                return False
            continue
        done.append(act)
    vx.applied_index = index
    entries = [('delete', e) for e in vx.fdb_fix] + [('put', e._replace(index=index)) for e in vx.fdb_put] + \
        [('put', e._replace(index=index)) for e in vx.neigh_put]
    try:
        return _entries(kernel, entries, failures, policy)
    except OSError as e:
        e.hostgw_done = done + ['entries']
        raise


def _entries(kernel, ops, failures, policy):
    if not ops:
        return True
    batch = kernel.neigh_apply(ops)
    bad = list(batch.failed) + [(i, batch.error) for i in batch.unknown]
    if batch.error is not None and not batch.unknown and not batch.failed:
        bad.append((len(batch.done), batch.error))
    for i, e in bad:
        what = ops[min(i, len(ops) - 1)][1]
        line = (_vxlan.fdb_line if isinstance(what, _vxlan.KFdb) else _vxlan.neigh_line)(what, 'if%d' % what.index)
        failures.append(dict(change='%s %s' % (ops[i][0], line), errno=getattr(e, 'code', None), error=str(e)))
    if bad and not policy.keep_going:
        e = OSError(failures[-1]['errno'] or 0, 'vxlan entries: %s' % failures[-1]['error'])
        raise e
    return not bad


def apply_after(vx, kernel, failures, policy):
    """Stale neighbors, then stale FDB entries, then the device when no peer needs it (routes are gone by now)."""
    ok = _entries(kernel, [('delete', e) for e in vx.neigh_del] + [('delete', e) for e in vx.fdb_del], failures, policy)
    for act in vx.after:
        if act[0] == 'delete' and vx.link is not None:
            try:
                kernel.link_del(vx.link['index'])
            except OSError as e:
                if not policy.keep_going:
                    raise
                failures.append(dict(change='vxlan delete %s' % vx.name, errno=getattr(e, 'errno', None), error=str(e)))
                ok = False
    return ok


def boot_state(vx, opts, metric=None):
    """What the boot restore needs to rebuild the VXLAN part (None when the node has no encapsulated peers)."""
    if not vx.peers:
        return None
    peers = []
    for peer in vx.peers:
        entry = dict(host=peer.host, node_ip=peer.node_ip)
        for family, dest, _vtep in peer.vteps:
            entry['subnet' if family == 4 else 'subnet6'] = dest
        peers.append(entry)
    return dict(name=opts['name'], vni=opts['vni'], port=opts['port'], node_ip=vx.my_ip, subnets=vx.subnets,
                peers=peers, metric=metric)
