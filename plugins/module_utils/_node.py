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

import ipaddress
import os
import re

from ansible_collections.hostgw.network.plugins.module_utils._bridge import (
    BridgeError,
    apply_to_view,
    describe,
    parse_addresses,
    plan_bridge,
    validate_name,
)
from ansible_collections.hostgw.network.plugins.module_utils._routes import (
    RouteChanges,
    RouteError,
    after_lines,
    check_next_hops,
    diff_routes,
    is_link_local,
    owned_lines,
    parse_wanted,
    route_line,
)

__metaclass__ = type  # pylint: disable=invalid-name

__all__ = ['BridgeError', 'NodeError', 'RouteError', 'bridge', 'find_dev', 'routes']

_IFINDEX = re.compile(r'\bdev if(\d+)\b')


class NodeError(Exception):
    """The kernel refused a change. ``msg`` says what; ``result`` is the module result up to that point."""

    def __init__(self, msg, **result):
        super(NodeError, self).__init__(msg)
        self.msg = msg
        self.result = result


# ---- bridge (cni_bridge) ---------------------------------------------------------------------------------
def _read(kernel, name):
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


def bridge(p, kernel, check_mode=False, diff=False):
    """What cni_bridge does; ``p``: its parameters. Raises ``NodeError`` (with the partial result) on failure."""
    name = validate_name(p['name'])
    want = parse_addresses(p['addresses'])
    if p['mtu'] is not None and not 68 <= p['mtu'] <= 65535:
        raise BridgeError('mtu %d is out of range (68-65535)' % p['mtu'])
    link, addrs = _read(kernel, name)
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
    index = link['index'] if link is not None else None
    done = []
    try:
        for act in actions:
            if act[0] == 'create':
                index = kernel.bridge_create(name)
            elif act[0] == 'delete':
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
            done.append(' '.join(str(x) for x in act))
        if p['state'] == 'present' and any(a[0] == 'addr_del' for a in actions):
            # Deleting a primary IPv4 address also deletes the secondaries of its subnet (unless
            # promote_secondaries is set), which can take a wanted address with it: put those back.
            _link, now = _read(kernel, name)
            for a in want:
                if a not in now:
                    act = ('addr_add', a)
                    kernel.addr_add(index, a)
                    done.append(' '.join(str(x) for x in act))
    except OSError as e:
        raise NodeError('bridge %s: failed at "%s": %s (done before it: %s); re-run to converge'
                        % (name, ' '.join(str(x) for x in act), e, ', '.join(done) or 'nothing'),
                        actions=done, changed=bool(done))
    result['actions'] = done
    link, addrs = _read(kernel, name)
    result['bridge'] = _view(link, addrs)
    return result


# ---- routes (hostgw_route) ------------------------------------------------------------------------------
def find_dev(links, addrs, dev, node_ip):
    by_name = dict((x['name'], x) for x in links)
    if dev:
        if dev not in by_name:
            raise RouteError(['uplink %s does not exist on this host (links: %s)' % (dev, ', '.join(sorted(by_name)))])
        return by_name[dev]['index'], dev
    names = dict((x['index'], x['name']) for x in links)
    try:
        node_ip = ipaddress.ip_address(str(node_ip).strip())
    except ValueError:
        raise RouteError(['node_ip %r is not an IP address' % (node_ip,)])
    for a in addrs:
        if ipaddress.ip_address(a.address) == node_ip:
            return a.index, names.get(a.index, str(a.index))
    raise RouteError(['node IP %s is not an address of this host, so the uplink cannot be found; set dev' % node_ip])


def routes(p, kernel, check_mode=False, diff=False):
    """What hostgw_route does; ``p``: its parameters. Raises ``RouteError`` (bad input, unsafe change) or
    ``NodeError`` (the kernel refused a change; the partial result says what was done)."""
    proto = p['proto']
    links = kernel.links()
    names = dict((x['index'], x['name']) for x in links)
    existing = kernel.routes()
    result = dict(changed=False, added=[], replaced=[], removed=[], unchanged=0, own_subnets=[], proto=proto)
    if p['state'] == 'absent':
        changes = RouteChanges()
        changes.delete = [r for r in existing if r.proto == proto]
        dev_index = dev_name = None
    else:
        addrs = kernel.addrs()
        dev_index, dev_name = find_dev(links, addrs, p['dev'], p['node_ip'])
        result['dev'] = dev_name
        wanted = parse_wanted(p['routes'], p['metric'])
        keep, skipped = check_next_hops(wanted, addrs, dev_index, dev_name)
        result['own_subnets'] = [w.dest for w in skipped]
        result['boot_state'] = dict(dev=dev_name, proto=proto, routes=[
            dict(dest=w.dest, via=w.via, metric=w.metric, host=w.host) for w in keep])
        seen = existing
        if check_mode and p['bridge']:
            # The bridge's connected routes go away when cni_bridge re-addresses it, which check mode did not do.
            bridge_index = next((x['index'] for x in links if x['name'] == p['bridge']), None)
            seen = [r for r in existing if not (r.oif == bridge_index and r.proto == 2 and not r.via)]
        try:
            changes = diff_routes(keep, seen, dev_index, proto, p['purge'])
        except RouteError as e:
            # diff_routes names links by index ('dev if3'): say which link that is.
            raise RouteError([_IFINDEX.sub(lambda m: 'dev %s' % names.get(int(m.group(1)), m.group(0)[4:]), err)
                              for err in e.errors])
        result['unchanged'] = changes.unchanged
        uplink = [x for x in links if x['index'] == dev_index]
        if (changes.add or changes.replace) and uplink and not uplink[0]['up']:
            # The kernel refuses gateway routes on a down link (ENETUNREACH) after some may be made.
            raise RouteError(['uplink %s is down: routes via it cannot be added; bring it up first' % dev_name])
    if diff:
        result['diff'] = dict(before='\n'.join(owned_lines(existing, proto, names)) + '\n',
                              after='\n'.join(after_lines(existing, changes, dev_name, proto, names)) + '\n',
                              before_header='routes (proto %d)' % proto, after_header='routes (proto %d)' % proto)
    result['changed'] = changes.changed

    def line_w(w):
        return route_line(w.family, w.dest, w.via, dev_name, proto, w.metric)

    def line_k(r):
        return route_line(r.family, r.dest, r.via, names.get(r.oif, r.oif), proto, r.metric)

    if check_mode or not changes.changed:
        result['added'] = [line_w(w) for w in changes.add]
        result['replaced'] = [line_w(w) for _old, w in changes.replace]
        result['removed'] = [line_k(r) for r in changes.delete]
        return result

    done = result
    # In-place replacement first (no gap in reachability), then additions, then removals. Each phase goes to
    # the kernel in chunks of many requests; every request is acknowledged on its own, so what was done and
    # what was refused is known exactly (_netlink.Kernel.routes_apply). A refusal stops before the next chunk.
    phases = (('replace', [w for _old, w in changes.replace], line_w, 'replaced'),
              ('add', changes.add, line_w, 'added'),
              ('delete', changes.delete, line_k, 'removed'))
    for action, items, line, key in phases:
        if not items:
            continue
        batch = kernel.routes_apply([(action, x) for x in items], dev_index, proto)
        done[key].extend(line(items[i]) for i in batch.done)
        if batch.failed or batch.error is not None:
            raise NodeError(**_failure(done, action, items, line, batch))
    return done


def _failure(done, action, items, line, batch):
    """The failed result: what was done (added/replaced/removed), every refused change with its errno, the message."""
    def code(e):
        return getattr(e, 'code', None) or getattr(e, 'errno', None)

    failures = [dict(change='%s %s' % (action, line(items[i])), errno=code(e), error=os.strerror(code(e) or 0))
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
    done['changed'] = bool(done['added'] or done['replaced'] or done['removed'] or batch.unknown)
    done['failures'] = failures
    done['msg'] = msg + ' (the changes listed in added/replaced/removed were made; re-run to converge)'
    return done
