# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The node modules' work: read the kernel through the netlink seam, plan with the pure code, apply, report.

``cni_bridge`` and ``hostgw_route`` are their argument specs plus one call here (``bridge``/``routes``), with a
``_netlink.Kernel`` (or a fake with the same methods in tests). Failures raise ``NodeError`` carrying the partial
result (what was done before the failure), never exit the process.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os

from ansible_collections.hostgw.network.plugins.module_utils._bridge import (
    BridgeError,
    apply_to_view,
    describe,
    parse_addresses,
    plan_bridge,
    validate_name,
)
from ansible_collections.hostgw.network.plugins.module_utils._mesh import MTU_MAX, MTU_MIN, find_uplink, member_routes
from ansible_collections.hostgw.network.plugins.module_utils._routes import (
    RouteChanges,
    RouteError,
    after_lines,
    check_next_hops,
    is_link_local,
    nexthop_line,
    owned_lines,
    parse_wanted,
    plan_routes,
    route_line,
)

__metaclass__ = type  # pylint: disable=invalid-name

__all__ = ['BridgeError', 'NodeError', 'RouteError', 'bridge', 'find_dev', 'routes']


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


def bridge(p, kernel, check_mode=False, diff=False):
    """What cni_bridge does; ``p``: its parameters. Raises ``NodeError`` (with the partial result) on failure."""
    name = validate_name(p['bridge'])
    want = parse_addresses(p['addresses'])
    if p['mtu'] is not None and not MTU_MIN <= p['mtu'] <= MTU_MAX:
        raise BridgeError('mtu %d is out of range (%d-%d)' % (p['mtu'], MTU_MIN, MTU_MAX))
    link, addrs = read_bridge(kernel, name)
    actions = plan_bridge(link, addrs, want, p['mtu'], p['state'])
    after_link, after_addrs = apply_to_view(name, link, addrs, actions)
    result = dict(changed=bool(actions), actions=[' '.join(str(x) for x in a) for a in actions])
    if p['state'] == 'present':
        result['boot_state'] = dict(name=name, addresses=want, mtu=p['mtu'])
    if diff:
        result['diff'] = dict(before=describe(name, link, addrs), after=describe(name, after_link, after_addrs),
                              before_header='bridge %s' % name, after_header='bridge %s' % name)
    if check_mode or not actions:
        result['bridge'] = _view(after_link, after_addrs)
        return result
    done = []
    for attempt in range(RACE_RETRIES + 1):
        index = link['index'] if link is not None else None
        act = None
        try:
            for act in actions:
                index = apply_bridge_action(kernel, name, index, act)
                done.append(' '.join(str(x) for x in act))
            if p['state'] == 'present' and any(a[0] == 'addr_del' for a in actions):
                # Deleting a primary IPv4 address also deletes the secondaries of its subnet (unless
                # promote_secondaries is set), which can take a wanted address with it: put those back.
                _link, now = read_bridge(kernel, name)
                for a in want:
                    if a not in now:
                        act = ('addr_add', a)
                        kernel.addr_add(index, a)
                        done.append(' '.join(str(x) for x in act))
            break
        except OSError as e:
            if _code(e) == errno.EEXIST and attempt < RACE_RETRIES:
                # Made meanwhile by someone else (the bridge, an address): plan again from what is there now.
                link, addrs = read_bridge(kernel, name)
                actions = plan_bridge(link, addrs, want, p['mtu'], p['state'])
                continue
            raise NodeError('bridge %s: failed at "%s": %s (done before it: %s); re-run to converge'
                            % (name, ' '.join(str(x) for x in act), e, ', '.join(done) or 'nothing'),
                            actions=done, changed=bool(done))
    result['actions'] = done
    result['changed'] = bool(done)
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


def routes(p, kernel, check_mode=False, diff=False):
    """What hostgw_route does; ``p``: its parameters. Raises ``RouteError`` (bad input, unsafe change) or
    ``NodeError`` (the kernel refused a change; the partial result says what was done).

    When every refusal is EEXIST (another run made the same route or next hop meanwhile), the kernel is read and
    the changes planned again, a few times at most; what each attempt made is reported."""
    before = None
    attempt = 0
    while True:
        try:
            with _no_cyclic_gc():
                once = _routes_once(p, kernel, check_mode, diff)
            return _carry(before, once)
        except NodeError as e:
            failures = e.result.get('failures') or []
            if attempt < RACE_RETRIES and failures and all(f['errno'] == errno.EEXIST for f in failures):
                before = _carry(before, e.result)
                attempt += 1
                continue
            raise NodeError(e.msg, **_carry(before, e.result))


def _routes_once(p, kernel, check_mode, diff):
    proto = p['proto']
    links = kernel.links()
    names = dict((x['index'], x['name']) for x in links)
    existing = kernel.routes()
    nexthops = kernel.nexthops()
    result = dict(changed=False, added=[], replaced=[], removed=[], unchanged=0, own_subnets=[], proto=proto,
                  nexthops_added=[], nexthops_removed=[])
    nh_ids, nh_add = None, []
    if p['state'] == 'absent':
        changes = RouteChanges()
        changes.delete = [r for r in existing if r.proto == proto]
        gone = set(id(r) for r in changes.delete)
        used = set(r.nhid for r in existing if r.nhid and id(r) not in gone)
        nh_delete = [n for n in nexthops or [] if n.proto == proto and n.id not in used]
        dev_index = dev_name = None
    else:
        addrs = kernel.addrs()
        dev_index, dev_name = find_dev(links, addrs, p['uplink'], p['node_ip'])
        use_nh = use_nexthops(p.get('nexthop_objects', 'auto'), nexthops)
        result['uplink'] = dev_name
        result['nexthop_objects'] = use_nh
        routes = p.get('routes')
        if routes is None:
            routes = member_routes(p.get('members'))
        wanted = parse_wanted(routes, p['metric'])
        keep, skipped = check_next_hops(wanted, addrs, dev_index, dev_name)
        result['own_subnets'] = [w.dest for w in skipped]
        result['boot_state'] = dict(uplink=dev_name, proto=proto, nexthop_objects=use_nh, routes=[
            dict(dest=w.dest, via=w.via, metric=w.metric, host=w.host) for w in keep])
        seen = existing
        if check_mode and p['bridge']:
            # The bridge's connected routes go away when cni_bridge re-addresses it, which check mode did not do.
            bridge_index = next((x['index'] for x in links if x['name'] == p['bridge']), None)
            seen = [r for r in existing if not (r.oif == bridge_index and r.proto == 2 and not r.via)]
        changes, nh_ids, nh_add, nh_delete = plan_routes(keep, seen, nexthops, dev_index, proto, use_nh, p['purge'],
                                                         names=names)
        result['unchanged'] = changes.unchanged
        uplink = [x for x in links if x['index'] == dev_index]
        if (changes.add or changes.replace or nh_add) and uplink and not uplink[0]['up']:
            # The kernel refuses gateway routes on a down link (ENETUNREACH) after some may be made.
            raise RouteError(['uplink %s is down: routes via it cannot be added; bring it up first' % dev_name])
    nh = nh_ids or {}
    if diff:
        before = owned_lines(existing, proto, names) + ['nexthop ' + nexthop_line(n, names) for n in nexthops or []
                                                        if n.proto == proto]
        gone_nh = set(n.id for n in nh_delete)
        after = after_lines(existing, changes, dev_name, proto, names, nh_ids)
        after += ['nexthop ' + nexthop_line(n, names) for n in nexthops or [] if n.proto == proto and n.id not in gone_nh]
        after += ['nexthop ' + nexthop_line(n, names) for n in nh_add]
        result['diff'] = dict(before='\n'.join(sorted(before)) + '\n', after='\n'.join(sorted(after)) + '\n',
                              before_header='routes (proto %d)' % proto, after_header='routes (proto %d)' % proto)
    result['changed'] = bool(changes.changed or nh_add or nh_delete)

    def line_w(w):
        return route_line(w.family, w.dest, w.via, dev_name, proto, w.metric, nh.get(w.via))

    def line_k(r):
        return route_line(r.family, r.dest, r.via, names.get(r.oif, r.oif), proto, r.metric, r.nhid)

    def line_n(n):
        return nexthop_line(n, names)

    if check_mode or not result['changed']:
        result['added'] = [line_w(w) for w in changes.add]
        result['replaced'] = [line_w(w) for _old, w in changes.replace]
        result['removed'] = [line_k(r) for r in changes.delete]
        result['nexthops_added'] = [line_n(n) for n in nh_add]
        result['nexthops_removed'] = [line_n(n) for n in nh_delete]
        return result

    done = result
    # Next-hop objects first, then in-place replacement (no gap in reachability), additions, removals, and last the
    # objects no route uses any more (deleting an object deletes its routes). Each phase goes to the kernel in chunks
    # of many requests; every request is acknowledged on its own, so what was done and what was refused is known
    # exactly (_netlink.Kernel.routes_apply). A refusal stops before the next chunk.
    phases = (('add', nh_add, line_n, 'nexthops_added', 'nexthop'),
              ('replace', [w for _old, w in changes.replace], line_w, 'replaced', 'wanted'),
              ('add', changes.add, line_w, 'added', 'wanted'),
              ('delete', changes.delete, line_k, 'removed', 'kernel'),
              ('delete', nh_delete, line_n, 'nexthops_removed', 'nexthop'))
    for action, items, line, key, kind in phases:
        if not items:
            continue
        if kind == 'nexthop':
            batch = kernel.nexthops_apply([(action, x) for x in items])
        elif kind == 'wanted':
            batch = kernel.routes_apply([(action, x, nh[x.via]) if x.via in nh else (action, x) for x in items],
                                        dev_index, proto)
        else:
            batch = kernel.routes_apply([(action, x) for x in items], dev_index, proto)
        done[key].extend(line(items[i]) for i in batch.done)
        if batch.failed or batch.error is not None:
            raise NodeError(**_failure(done, action, items, line, batch))
    return done


def _failure(done, action, items, line, batch):
    """The failed result: what was done (added/replaced/removed), every refused change with its errno, the message."""
    failures = [dict(change='%s %s' % (action, line(items[i])), errno=_code(e), error=os.strerror(_code(e) or 0))
                for i, e in batch.failed]
    failures.extend(dict(change='%s %s' % (action, line(items[i])), errno=None,
                         error='no acknowledgement from the kernel (%s): it may or may not have been made' % batch.error)
                    for i in batch.unknown)
    if batch.failed:
        i, e = batch.failed[0]
    else:
        i = batch.unknown[0] if batch.unknown else (batch.done[-1] + 1 if batch.done else 0)
        e = batch.error
    msg = 'failed to %s %s: %s' % (action, line(items[min(i, len(items) - 1)]), e)
    others = failures[1:] if batch.failed else failures
    if others:
        msg += '; %d more failed: %s' % (len(others), '; '.join('%s: %s' % (f['change'], f['error']) for f in others[:5]))
        if len(others) > 5:
            msg += '; ... (all listed in failures)'
    done['changed'] = any((done['added'], done['replaced'], done['removed'], done.get('nexthops_added'),
                           done.get('nexthops_removed'), batch.unknown))
    done['failures'] = failures
    done['msg'] = msg + ' (the changes listed in added/replaced/removed were made; re-run to converge)'
    return done
