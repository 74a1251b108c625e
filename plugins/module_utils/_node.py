# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one apply path for the node's kernel state: read it through the netlink seam, plan with the pure code, apply,
report.

``cni_bridge`` and ``hostgw_route`` are their argument specs plus one call here (``bridge``/``routes``), with a
``_netlink.Kernel`` (or a fake with the same methods in tests); the boot program and the repair timer
(``_boot_program``) call the same two functions with ``policy=RESTORE``. The policy is the only difference:

* ``CONVERGE`` (run time): make hostgw's state exactly what is asked: adopt a bridge of the name, delete extra
  addresses, replace and purge owned routes and next hops; a refusal stops the run and raises ``NodeError`` carrying
  the partial result (what was done before the failure).
* ``RESTORE`` (boot, repair): add what is missing and replace what hostgw owns; never delete anything, never adopt or
  touch a foreign object (a foreign link or route in the way is a conflict, returned in ``conflicts``); carry on
  past a refusal so every object gets its own outcome (``failures`` in the result, nothing raised).

Never exits the process.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os

from ansible_collections.hostgw.network.plugins.module_utils._bridge import (
    OWNER_ALIAS,
    BridgeError,
    apply_to_view,
    describe,
    parse_addresses,
    plan_bridge,
    validate_name,
)
from ansible_collections.hostgw.network.plugins.module_utils import _node_vxlan
from ansible_collections.hostgw.network.plugins.module_utils._mesh import MTU_MAX, MTU_MIN, find_uplink, member_routes
from ansible_collections.hostgw.network.plugins.module_utils._routes import (
    DEFAULT_METRIC,
    KRoute,
    RouteChanges,
    RouteError,
    WRoute,
    _metric as route_metric,
    after_lines,
    check_next_hops,
    is_link_local,
    nexthop_line,
    owned_lines,
    parse_wanted,
    plan_routes,
    route_line,
    wanted_line,
)

__metaclass__ = type  # pylint: disable=invalid-name

__all__ = ['BridgeError', 'CONVERGE', 'NodeError', 'Policy', 'RESTORE', 'RouteError', 'bridge', 'find_dev', 'routes']


class Policy:
    """How state is applied (see the module's docstring): ``delete`` (addresses, routes, next hops hostgw owns may be
    removed), ``adopt`` (a bridge of the name without hostgw's mark is taken over), ``keep_going`` (failures are
    returned, not raised, and the other changes still made)."""

    def __init__(self, name, delete, adopt, keep_going):
        self.name, self.delete, self.adopt, self.keep_going = name, delete, adopt, keep_going

    def __repr__(self):
        return 'Policy(%s)' % self.name


CONVERGE = Policy('converge', delete=True, adopt=True, keep_going=False)
RESTORE = Policy('restore', delete=False, adopt=False, keep_going=True)


class NodeError(Exception):
    """The kernel refused a change. ``msg`` says what; ``result`` is the module result up to that point."""

    def __init__(self, msg, **result):
        super(NodeError, self).__init__(msg)
        self.msg = msg
        self.result = result


# ---- bridge (cni_bridge) ---------------------------------------------------------------------------------
def read_bridge(kernel, name):
    """The link called ``name`` (or None) and its addresses as ``'ip/len'``."""
    link = None
    for item in kernel.links():
        if item['name'] == name:
            link = item
            break
    addrs = []
    if link is not None:
        addrs = ['%s/%d' % (a.address, a.prefixlen) for a in kernel.addrs() if a.index == link['index']]
    return link, addrs


def _view(link, addrs):
    if link is None:
        return {}
    return dict(name=link['name'], mtu=link['mtu'], up=link['up'],
                addresses=sorted(a for a in addrs if not is_link_local(a)))


def apply_bridge_action(kernel, name, index, act):
    """Make one ``plan_bridge`` action through the seam; returns the bridge's index (new after ``create``)."""
    if act[0] == 'create':
        return kernel.bridge_create(name)
    if act[0] == 'delete':
        kernel.link_del(index)
    elif act[0] == 'alias':
        kernel.link_set(index, ifalias=act[1])
    elif act[0] == 'mtu':
        kernel.link_set(index, mtu=act[1])
    elif act[0] == 'up':
        kernel.link_set(index, state='up')
    elif act[0] == 'addr_del':
        kernel.addr_del(index, act[1])
    elif act[0] == 'addr_add':
        kernel.addr_add(index, act[1])
    return index


def _code(e):
    return getattr(e, 'code', None) or getattr(e, 'errno', None)


# Another run (a second ansible-playbook, the boot restore, the repair timer) can make the same change between our
# read and our write: the kernel then says EEXIST. The state is re-read and re-planned, a few times at most.
RACE_RETRIES = 3


def _line(act):
    return ' '.join(str(x) for x in act)


def _plan_bridge(kernel, name, want, mtu, state, policy):
    """Read the link and plan; under a policy that does not adopt, a link of the name without hostgw's mark is a
    ``BridgeError`` (left as it is), and nothing is deleted."""
    link, addrs = read_bridge(kernel, name)
    if not policy.adopt and link is not None and link.get('alias') != OWNER_ALIAS:
        raise BridgeError('a link of that name exists that hostgw does not own (kind %s, alias %r): left as it is'
                          % (link.get('kind'), link.get('alias')))
    actions = plan_bridge(link, addrs, want, mtu, state)
    if not policy.delete:
        # An extra address on the bridge is left for the next hostgw run to judge.
        actions = [a for a in actions if a[0] not in ('addr_del', 'delete')]
    return link, addrs, actions


def _apply_bridge(kernel, name, link, want, actions, state, policy, done, failures):
    """Make ``actions``; returns normally or raises ``OSError`` (the failing action in ``failures[-1]`` when the
    policy keeps going past other failures)."""
    index = link['index'] if link is not None else None
    for act in actions:
        try:
            index = apply_bridge_action(kernel, name, index, act)
        except OSError as e:
            if not policy.keep_going or act[0] == 'create' or _code(e) == errno.EEXIST:
                e.hostgw_action = act
                raise
            failures.append(dict(change=_line(act), errno=_code(e), error=str(e)))
            continue
        done.append(_line(act))
    if state == 'present' and any(a[0] == 'addr_del' for a in actions):
        # Deleting a primary IPv4 address also deletes the secondaries of its subnet (unless
        # promote_secondaries is set), which can take a wanted address with it: put those back.
        _link, now = read_bridge(kernel, name)
        for a in want:
            if a not in now:
                act = ('addr_add', a)
                try:
                    kernel.addr_add(index, a)
                except OSError as e:
                    e.hostgw_action = act
                    raise
                done.append(_line(act))


def bridge(p, kernel, check_mode=False, diff=False, policy=CONVERGE):
    """What cni_bridge does (``policy`` CONVERGE) and the boot program (RESTORE); ``p``: cni_bridge's parameters.

    Raises ``BridgeError`` on bad input or a link hostgw must not touch; ``NodeError`` (with the partial result) when
    the kernel refuses a change under CONVERGE; under RESTORE the refusals are in ``failures``."""
    name = validate_name(p['bridge'])
    want = parse_addresses(p['addresses'])
    if p['mtu'] is not None and not MTU_MIN <= p['mtu'] <= MTU_MAX:
        raise BridgeError('mtu %d is out of range (%d-%d)' % (p['mtu'], MTU_MIN, MTU_MAX))
    link, addrs, actions = _plan_bridge(kernel, name, want, p['mtu'], p['state'], policy)
    after_link, after_addrs = apply_to_view(name, link, addrs, actions)
    result = dict(changed=bool(actions), actions=[_line(a) for a in actions], mtu_kept_by=[])
    if link is not None and any(a[0] == 'mtu' for a in actions):
        # The links on the bridge (running pods' veths) keep their MTU until their pods are made again.
        result['mtu_kept_by'] = sorted(x['name'] for x in kernel.links() if x.get('master') == link['index'])
    if policy.keep_going:
        result['failures'] = []
    if p['state'] == 'present':
        result['boot_state'] = dict(name=name, addresses=want, mtu=p['mtu'])
    if diff:
        result['diff'] = dict(before=describe(name, link, addrs), after=describe(name, after_link, after_addrs),
                              before_header='bridge %s' % name, after_header='bridge %s' % name)
    if check_mode or not actions:
        result['bridge'] = _view(after_link, after_addrs)
        return result
    done, failures = [], []
    for attempt in range(RACE_RETRIES + 1):
        try:
            _apply_bridge(kernel, name, link, want, actions, p['state'], policy, done, failures)
            break
        except OSError as e:
            if _code(e) == errno.EEXIST and attempt < RACE_RETRIES:
                # Made meanwhile by someone else (the bridge, an address): plan again from what is there now.
                link, addrs, actions = _plan_bridge(kernel, name, want, p['mtu'], p['state'], policy)
                continue
            act = _line(getattr(e, 'hostgw_action', ('?',)))
            msg = ('bridge %s: failed at "%s": %s (done before it: %s); re-run to converge'
                   % (name, act, e, ', '.join(done) or 'nothing'))
            if not policy.keep_going:
                raise NodeError(msg, actions=done, changed=bool(done))
            failures.append(dict(change=act, errno=_code(e), error=str(e)))
            break
    result.update(actions=done, changed=bool(done))
    if policy.keep_going:
        result['failures'] = failures
    link, addrs = read_bridge(kernel, name)
    result['bridge'] = _view(link, addrs)
    return result


# ---- routes (hostgw_route) ------------------------------------------------------------------------------
def find_dev(links, addrs, dev, node_ip):
    """The uplink's ``(index, name)``: ``dev`` when given, else the link holding ``node_ip`` (the one finder,
    ``_mesh.find_uplink``, that the planner uses too)."""
    names = dict((x['index'], x['name']) for x in links)
    addr_dicts = [dict(ifname=names.get(a.index), address=a.address, prefixlen=a.prefixlen, family=a.family)
                  for a in addrs]
    name, _mtu, errors = find_uplink(links, addr_dicts, node_ip, dev, uplink_var='uplink')
    if errors or name is None:
        raise RouteError(errors or ['the uplink cannot be found: give uplink or node_ip'])
    return next(x['index'] for x in links if x['name'] == name), name


def use_nexthops(mode, nexthops):
    """Resolve ``nexthop_objects`` (auto, true, false) against what the kernel has (``nexthops`` None: no objects)."""
    mode = str(mode).strip().lower()
    if mode == 'auto':
        return nexthops is not None
    if mode in ('true', 'yes', 'on', '1'):
        if nexthops is None:
            raise RouteError(['nexthop_objects is %s but this kernel has no next-hop objects (Linux 5.3 or later): '
                              'set it to auto or false' % mode])
        return True
    if mode in ('false', 'no', 'off', '0'):
        return False
    raise RouteError(['nexthop_objects %r is not one of auto, true, false' % mode])


@contextlib.contextmanager
def _no_cyclic_gc():
    """Pause Python's cyclic garbage collector: reading and planning 10,000 routes makes about 100,000 small objects
    with no reference cycles (refcounting frees them), and the collector's passes over them (and over the module's
    parsed arguments) were a third to a half of a no-op re-check at 10,000 routes (docs/benchmarks.md)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_DONE_KEYS = ('added', 'replaced', 'removed', 'nexthops_added', 'nexthops_removed')


def _carry(before, result):
    """``result`` with the changes an earlier attempt made (``before``) in front of its own."""
    if before is None:
        return result
    for key in _DONE_KEYS:
        result[key] = before.get(key, []) + result.get(key, [])
    result['changed'] = bool(before.get('changed') or result.get('changed'))
    if 'diff' in before:
        result['diff'] = before['diff']
    return result


def routes(p, kernel, check_mode=False, diff=False, policy=CONVERGE):
    """What hostgw_route does (``policy`` CONVERGE) and the boot program (RESTORE); ``p``: hostgw_route's parameters.

    With ``cross_subnet: vxlan`` the peers that are not adjacent go through hostgw's VXLAN device (``_node_vxlan``):
    the device and its FDB and neighbor entries are made before the routes that need them, and what no peer needs any
    more is removed after the routes. Otherwise (and for the routes themselves) see ``plain_routes``."""
    mode, opts = _node_vxlan.mode_of(p)
    if p['state'] == 'absent' or (mode == 'fail' and not p.get('vxlan_state')):
        seen = []       # the links the route run read (route changes leave links as they are): no second dump
        result = plain_routes(p, kernel, check_mode, diff, policy, seen_links=seen)
        if p['state'] != 'absent' and not p.get('purge', True):
            return result      # routes through the device may remain: so does the device
        # Teardown, or switched back from vxlan: the owned routes through hostgw's device are gone (replaced or
        # purged), and the device goes too (the role's firewall no longer guards its port).
        return _remove_devices(kernel, result, opts['name'], check_mode, diff, policy, seen[-1] if seen else None)
    links, addrs = kernel.links(), kernel.addrs()
    dev_index, _dev_name = find_dev(links, addrs, p['uplink'], p['node_ip'])
    conflicts = [] if policy.keep_going else None
    vx = _node_vxlan.plan(p, kernel, links, addrs, dev_index, policy, conflicts)
    failures = []
    ok = True
    metric = p.get('metric')

    def metric_of(family):
        return DEFAULT_METRIC[family] if metric is None else route_metric(metric, family)

    def route_params(index, routes_ok=True):
        encap = vx.encapsulated_routes(metric_of, index) if routes_ok else []
        return dict(p, routes=vx.direct, members=None, encapsulated=encap, link_names={index: vx.name})
    if not check_mode and (vx.actions or vx.fdb_put or vx.neigh_put):
        # The routes are planned (and checked: foreign routes, off-link direct peers, a down uplink) before the device
        # or any entry is made: a refusal then changes nothing.
        plain_routes(route_params(vx.index), kernel, True, False, policy)
        try:
            ok = _node_vxlan.apply_before(vx, kernel, failures, policy, apply_bridge_action)
        except OSError as e:
            act = getattr(e, 'hostgw_action', None)
            raise NodeError('vxlan %s: failed at "%s": %s; re-run to converge'
                            % (vx.name, _line(act) if act else 'entries', e), changed=bool(getattr(e, 'hostgw_done', [])))
    index = vx.applied_index if vx.applied_index is not None else vx.index
    result = plain_routes(route_params(index, ok), kernel, check_mode, diff, policy)
    if not check_mode:
        if vx.applied_index is not None:
            vx.link = dict(index=vx.applied_index, name=vx.name)
        if vx.link is not None:
            try:
                _node_vxlan.apply_after(vx, kernel, failures, policy)
            except OSError as e:
                result['changed'] = True
                raise NodeError('vxlan %s: failed to remove what no peer needs: %s; re-run to converge' % (vx.name, e),
                                **result)
    if conflicts:
        result.setdefault('conflicts', []).extend(conflicts)
    if failures:
        result.setdefault('failures', []).extend(failures)
    result['vxlan'] = dict(device=vx.name if vx.peers else None, changes=vx.lines(),
                           direct=sorted(set(r['host'] for r in vx.direct if r.get('host'))),
                           encapsulated=[peer.host for peer in vx.peers])
    result['changed'] = bool(result['changed'] or vx.changed)
    state = _node_vxlan.boot_state(vx, opts, metric)
    if state is not None and 'boot_state' in result:
        result['boot_state']['vxlan'] = state
    if diff and 'diff' in result and (vx.before_lines or vx.after_lines):
        result['diff']['before'] += ''.join('vxlan %s\n' % x for x in sorted(vx.before_lines))
        result['diff']['after'] += ''.join('vxlan %s\n' % x for x in sorted(vx.after_lines))
    return result


def _remove_devices(kernel, result, name, check_mode, diff, policy, links=None):
    """hostgw's VXLAN device ``name`` goes after the routes (its FDB and neighbor entries with it): at teardown, and
    when the node no longer uses it. Only a VXLAN link of that name with hostgw's mark. ``links``: the kernel's links
    as just read (else they are read)."""
    if not policy.delete:
        return result
    link = next((x for x in _node_vxlan.owned_devices(kernel.links() if links is None else links)
                 if x['name'] == name), None)
    if link is None:
        return result
    if not check_mode:
        try:
            kernel.link_del(link['index'])
        except OSError as e:
            result['changed'] = True
            raise NodeError('vxlan %s: cannot remove the device: %s; re-run to converge' % (name, e), **result)
    result['vxlan'] = dict(device=None, changes=['delete %s' % name], direct=[], encapsulated=[])
    result['changed'] = True
    if diff and 'diff' in result:
        result['diff']['before'] += 'vxlan %s (hostgw\'s VXLAN device)\n' % name
    return result


def plain_routes(p, kernel, check_mode=False, diff=False, policy=CONVERGE, seen_links=None):
    """What hostgw_route does (``policy`` CONVERGE) and the boot program (RESTORE); ``p``: hostgw_route's parameters.

    Raises ``RouteError`` (bad input, unsafe change). Under CONVERGE a refusal by the kernel raises ``NodeError``
    (the partial result says what was done); under RESTORE every refusal is in ``failures``, every foreign route on
    a wanted destination in ``conflicts`` and every off-link next hop in ``errors``, and the rest is still made.

    When every refusal is EEXIST (another run made the same route or next hop meanwhile), the kernel is read and
    the changes planned again, a few times at most; what each attempt made is reported. ``seen_links``: a list that
    gets the links each attempt read (for a caller that needs them after the routes)."""
    before = None
    for attempt in range(RACE_RETRIES + 1):
        with _no_cyclic_gc():
            result = _carry(before, _routes_once(p, kernel, check_mode, diff, policy, seen_links))
        failures = result.get('failures')
        if not failures:
            if not policy.keep_going:
                result.pop('failures', None)     # hostgw_route returns failures only when something failed
            return result
        if attempt < RACE_RETRIES and all(f['errno'] == errno.EEXIST for f in failures):
            before = result
            continue
        break
    if policy.keep_going:
        return result
    raise NodeError(result.pop('msg'), **result)


class _Read:
    """What the kernel has: links (and ``names`` by index), routes of the main table, next-hop objects (None: the
    kernel has none), addresses (only read for state present)."""

    def __init__(self, kernel, present):
        self.links = kernel.links()
        self.names = dict((x['index'], x['name']) for x in self.links)
        self.existing = kernel.routes()
        self.nexthops = kernel.nexthops()
        self.addrs = kernel.addrs() if present else None


class _RoutePlan:
    """The changes for one attempt: ``changes`` (RouteChanges), next-hop objects to add and delete, ``nh`` (next hop
    -> object id), the uplink, and how each kind of object is written in results."""

    def __init__(self, read, proto, changes, dev_index=None, dev_name=None, nh_ids=None, nh_add=(), nh_delete=()):
        self.read, self.proto, self.changes = read, proto, changes
        self.dev_index, self.dev_name = dev_index, dev_name
        self.nh_ids, self.nh = nh_ids, nh_ids or {}
        self.nh_add, self.nh_delete = list(nh_add), list(nh_delete)

    @property
    def changed(self):
        return bool(self.changes.changed or self.nh_add or self.nh_delete)

    def line_w(self, w):
        return wanted_line(w, self.dev_name, self.proto, self.read.names, self.nh.get(w.via))

    def line_k(self, r):
        return route_line(r.family, r.dest, r.via, self.read.names.get(r.oif, r.oif), self.proto, r.metric, r.nhid)

    def line_n(self, n):
        return nexthop_line(n, self.read.names)


def _routes_once(p, kernel, check_mode, diff, policy, seen_links=None):
    read = _Read(kernel, p['state'] != 'absent')
    if seen_links is not None:
        seen_links.append(read.links)
    result = dict(changed=False, added=[], replaced=[], removed=[], unchanged=0, own_subnets=[], proto=p['proto'],
                  nexthops_added=[], nexthops_removed=[], failures=[])
    if p['state'] == 'absent':
        plan = _plan_absent(read, p['proto'])
    else:
        plan = _plan_present(p, read, check_mode, policy, result)
    if diff:
        result['diff'] = _routes_diff(plan)
    result['changed'] = plan.changed
    if check_mode or not plan.changed:
        result['added'] = [plan.line_w(w) for w in plan.changes.add]
        result['replaced'] = [plan.line_w(w) for _old, w in plan.changes.replace + plan.changes.move]
        result['removed'] = [plan.line_k(r) for r in plan.changes.delete]
        result['nexthops_added'] = [plan.line_n(n) for n in plan.nh_add]
        result['nexthops_removed'] = [plan.line_n(n) for n in plan.nh_delete]
        return result
    result['_moved'] = []     # the old halves of RouteChanges.move (the new halves are in replaced)
    result = _apply_routes(kernel, plan, result, policy)
    if result.pop('_moved'):
        result['changed'] = True
    return result


def _plan_absent(read, proto):
    """Every owned route goes, then every owned next-hop object no other route uses."""
    changes = RouteChanges()
    changes.delete = [r for r in read.existing if r.proto == proto]
    gone = set(id(r) for r in changes.delete)
    used = set(r.nhid for r in read.existing if r.nhid and id(r) not in gone)
    nh_delete = [n for n in read.nexthops or [] if n.proto == proto and n.id not in used]
    return _RoutePlan(read, proto, changes, nh_delete=nh_delete)


def _plan_present(p, read, check_mode, policy, result):
    """Find the uplink, check the next hops, plan routes and next-hop objects; fills the result's ``uplink``,
    ``nexthop_objects``, ``own_subnets``, ``boot_state``, ``unchanged`` (and under RESTORE ``conflicts``,
    ``errors``)."""
    proto = p['proto']
    dev_index, dev_name = find_dev(read.links, read.addrs, p['uplink'], p['node_ip'])
    use_nh = use_nexthops(p.get('nexthop_objects', 'auto'), read.nexthops)
    result['uplink'] = dev_name
    result['nexthop_objects'] = use_nh
    wanted = p.get('routes')
    if wanted is None:
        wanted = member_routes(p.get('members'))
    wanted = parse_wanted(wanted, p['metric'])
    errors = conflicts = None
    if policy.keep_going:
        errors, conflicts = result.setdefault('errors', []), result.setdefault('conflicts', [])
    keep, skipped = check_next_hops(wanted, read.addrs, dev_index, dev_name, errors)
    result['own_subnets'] = [w.dest for w in skipped]
    read.names.update(p.get('link_names') or {})
    encapsulated = p.get('encapsulated') or []
    result['boot_state'] = dict(uplink=dev_name, proto=proto, nexthop_objects=use_nh, routes=[
        dict(dest=w.dest, via=w.via, metric=w.metric, host=w.host) for w in keep])
    keep = keep + encapsulated
    seen = read.existing
    if check_mode and p.get('bridge'):
        # The bridge's connected routes go away when cni_bridge re-addresses it, which check mode did not do.
        bridge_index = next((x['index'] for x in read.links if x['name'] == p['bridge']), None)
        seen = [r for r in read.existing if not (r.oif == bridge_index and r.proto == 2 and not r.via)]
    changes, nh_ids, nh_add, nh_delete = plan_routes(keep, seen, read.nexthops, dev_index, proto, use_nh,
                                                     p['purge'] and policy.delete, conflicts=conflicts,
                                                     names=read.names)
    if not policy.delete:
        changes.delete, nh_delete = [], []
    result['unchanged'] = changes.unchanged
    uplink = [x for x in read.links if x['index'] == dev_index]
    if (changes.add or changes.replace or nh_add) and uplink and not uplink[0]['up']:
        # The kernel refuses gateway routes on a down link (ENETUNREACH) after some may be made.
        raise RouteError(['uplink %s is down: routes via it cannot be added; bring it up first' % dev_name])
    return _RoutePlan(read, proto, changes, dev_index, dev_name, nh_ids, nh_add, nh_delete)


def _routes_diff(plan):
    read, proto, names = plan.read, plan.proto, plan.read.names
    before = owned_lines(read.existing, proto, names) + ['nexthop ' + plan.line_n(n) for n in read.nexthops or []
                                                         if n.proto == proto]
    gone_nh = set(n.id for n in plan.nh_delete)
    after = after_lines(read.existing, plan.changes, plan.dev_name, proto, names, plan.nh_ids)
    after += ['nexthop ' + plan.line_n(n) for n in read.nexthops or [] if n.proto == proto and n.id not in gone_nh]
    after += ['nexthop ' + plan.line_n(n) for n in plan.nh_add]
    return dict(before='\n'.join(sorted(before)) + '\n', after='\n'.join(sorted(after)) + '\n',
                before_header='routes (proto %d)' % proto, after_header='routes (proto %d)' % proto)


def _apply_routes(kernel, plan, result, policy):
    """Next-hop objects first, then in-place replacement (no gap in reachability), additions, removals, and last the
    objects no route uses any more (deleting an object deletes its routes). Each phase goes to the kernel in chunks
    of many requests; every request is acknowledged on its own, so what was done and what was refused is known
    exactly (_netlink.Kernel.routes_apply). A refusal stops the run (CONVERGE), or (RESTORE) the rest of the phase is
    sent again so that every route gets its own outcome; next-hop objects that could not be made stop the routes."""
    nh = plan.nh
    moves = [w for _old, w in plan.changes.move]
    helpers = [WRoute(6, w.via + '/128', None, w.metric, None, w.oif, False) for w in moves]
    # IPv6 routes moving onto the VXLAN device (RouteChanges.move): the kernel checks an onlink gateway against the
    # table (for a route and for a next-hop object alike), and the old route (on the uplink) covers it. A host route
    # to the gateway on the device goes first, then the objects, the route replaced in place (never a moment without
    # one), and the helper is deleted.
    phases = (('add', helpers, plan.line_w, '_moved', 'wanted'),
              ('add', plan.nh_add, plan.line_n, 'nexthops_added', 'nexthop'),
              ('replace', [w for _old, w in plan.changes.replace], plan.line_w, 'replaced', 'wanted'),
              ('replace', moves, plan.line_w, 'replaced', 'wanted'),
              ('delete', [KRoute(6, h.dest, None, h.oif, plan.proto, h.metric, 1) for h in helpers], plan.line_k,
               '_moved', 'kernel'),
              ('add', plan.changes.add, plan.line_w, 'added', 'wanted'),
              ('delete', plan.changes.delete, plan.line_k, 'removed', 'kernel'),
              ('delete', plan.nh_delete, plan.line_n, 'nexthops_removed', 'nexthop'))
    unknown = False
    for action, items, line, key, kind in phases:
        todo = list(items)
        while todo:
            if kind == 'nexthop':
                batch = kernel.nexthops_apply([(action, x) for x in todo])
            elif kind == 'wanted':
                batch = kernel.routes_apply([(action, x, nh[x.via]) if x.via in nh else (action, x) for x in todo],
                                            plan.dev_index, plan.proto)
            else:
                batch = kernel.routes_apply([(action, x) for x in todo], plan.dev_index, plan.proto)
            result[key].extend(line(todo[i]) for i in batch.done)
            if not batch.failed and batch.error is None:
                break
            unknown = unknown or bool(batch.unknown)
            if not result['failures']:
                result['msg'] = _failure_msg(action, todo, line, batch)
            result['failures'].extend(_failures(action, todo, line, batch))
            if not policy.keep_going or kind == 'nexthop':
                return _failed(result, unknown)
            if batch.error is not None or not batch.failed:
                break
            todo = todo[max(set(batch.done) | set(i for i, _e in batch.failed)) + 1:]
    if result['failures']:
        return _failed(result, unknown)
    return result


def _failures(action, items, line, batch):
    """Every refused change of ``batch`` with its errno (and the ones the kernel never answered)."""
    failures = [dict(change='%s %s' % (action, line(items[i])), errno=_code(e), error=os.strerror(_code(e) or 0))
                for i, e in batch.failed]
    failures.extend(dict(change='%s %s' % (action, line(items[i])), errno=None,
                         error='no acknowledgement from the kernel (%s): it may or may not have been made' % batch.error)
                    for i in batch.unknown)
    return failures


def _failure_msg(action, items, line, batch):
    if batch.failed:
        i, e = batch.failed[0]
    else:
        i = batch.unknown[0] if batch.unknown else (batch.done[-1] + 1 if batch.done else 0)
        e = batch.error
    msg = 'failed to %s %s: %s' % (action, line(items[min(i, len(items) - 1)]), e)
    failures = _failures(action, items, line, batch)
    others = failures[1:] if batch.failed else failures
    if others:
        msg += '; %d more failed: %s' % (len(others), '; '.join('%s: %s' % (f['change'], f['error']) for f in others[:5]))
        if len(others) > 5:
            msg += '; ... (all listed in failures)'
    return msg + ' (the changes listed in added/replaced/removed were made; re-run to converge)'


def _failed(result, unknown):
    result['changed'] = any((result['added'], result['replaced'], result['removed'], result['nexthops_added'],
                             result['nexthops_removed'], unknown))
    return result
