#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r'''
module: hostgw_route
short_description: Ensure the full-mesh host-gw routes to every peer's pod subnet
version_added: 0.1.0
description:
  - Ensures one route per peer, C(<peer pod subnet> via <peer node IP> dev <uplink>), in the main routing table,
    as Flannel's host-gw backend does, for IPv4 and IPv6, in one call.
  - Reads the routing table once, computes the difference and changes only what differs.
  - Routes it installs carry a dedicated route protocol number (O(proto), default C(244)); that mark is how the module
    knows what it owns. With O(purge=true) owned routes that are no longer wanted are deleted.
    Routes with any other protocol are never deleted or replaced; a foreign route that occupies a wanted
    destination is an error that names it, and nothing is changed.
  - Checks host-gw's hard requirement before changing anything, that every next hop must be on-link on the uplink
    (inside the prefix of an address of O(dev), or IPv6 link-local). Otherwise the module fails naming the peer.
  - A route whose next hop is an address of this host (the host's own subnet) is never installed; it is reported
    in RV(own_subnets). So the same O(routes) list can be given to every node of the mesh.
author:
  - hostgw contributors (@hostgw)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hostgw.network.netlink
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
options:
  routes:
    description:
      - The wanted routes, typically RV(hostgw.network.hostgw_subnet#module:ansible_facts.hostgw_plan.routes).
      - Required when O(state=present).
    type: list
    elements: dict
    suboptions:
      dest:
        description: Destination pod subnet in CIDR form (IPv4 or IPv6), without host bits.
        type: str
        required: true
      via:
        description: Next hop, the peer's node IP. Must be on-link on O(dev).
        type: str
        required: true
      host:
        description: Peer name, used in messages only.
        type: str
  dev:
    description:
      - The uplink interface all peers are reached through (Flannel's C(--iface)).
      - If omitted, the interface that holds O(node_ip) is used.
      - One of O(dev) and O(node_ip) is required when O(state=present).
    type: str
  bridge:
    description:
      - The pods' bridge of this node (as managed by M(hostgw.network.cni_bridge) in the same play, before this module).
      - Only matters in check mode. When a node's subnet moves and another node takes the old one in the same run,
        the bridge still holds the old subnet's connected route while nothing has been changed; the real run
        re-addresses the bridge first. In check mode, a connected (gateway-less, C(proto kernel)) route on this
        bridge is therefore not reported as a foreign conflict. Outside check mode it always is.
    type: str
  node_ip:
    description:
      - This node's own address on the uplink; used to find O(dev) when that is not given.
    type: str
  proto:
    description:
      - Route protocol number that marks routes as owned by this module (C(ip route ... proto 244)).
      - Values 0 to 4 belong to the kernel and to static routes and are refused.
      - Changing it on an existing mesh makes the old routes foreign; remove them with the old value first.
    type: int
    default: 244
  metric:
    description:
      - Route metric (priority). Default is the kernel's, C(0) for IPv4 and C(1024) for IPv6.
    type: int
  purge:
    description:
      - Delete owned routes (O(proto)) that are not in O(routes), for example the routes of a departed peer.
    type: bool
    default: true
  state:
    description:
      - V(present) ensures O(routes). V(absent) deletes every route marked with O(proto) and nothing else.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: hostgw.network.hostgw_subnet
  - module: hostgw.network.cni_bridge
  - name: Flannel host-gw backend
    description: The backend this module reproduces.
    link: https://github.com/flannel-io/flannel/blob/master/Documentation/backends.md#host-gw
'''

EXAMPLES = r'''
- name: Route to every peer's pod subnet (the node's own entry is skipped)
  hostgw.network.hostgw_route:
    routes: "{{ hostgw_plan.routes }}"
    dev: eth0
  become: true

- name: Explicit routes, uplink found from the node's address
  hostgw.network.hostgw_route:
    node_ip: 10.168.0.1
    routes:
      - dest: 192.168.1.0/24
        via: 10.168.0.2
        host: host2

- name: Remove every route this collection installed
  hostgw.network.hostgw_route:
    state: absent
'''

RETURN = r'''
added:
  description: Routes added (or that would be added in check mode), as C(ip route) prints them.
  returned: always
  type: list
  elements: str
  sample: ['192.168.1.0/24 via 10.168.0.2 dev eth0 proto 244']
replaced:
  description: Owned routes whose next hop, device or type was corrected, as they are after the change.
  returned: always
  type: list
  elements: str
removed:
  description: Owned routes deleted (or that would be deleted in check mode).
  returned: always
  type: list
  elements: str
unchanged:
  description: Number of wanted routes that were already right.
  returned: always
  type: int
  sample: 11
own_subnets:
  description: Destinations not installed because their next hop is an address of this host (its own subnet).
  returned: always
  type: list
  elements: str
  sample: ['192.168.0.0/24']
dev:
  description: The uplink the routes use.
  returned: when O(state=present)
  type: str
  sample: eth0
proto:
  description: The route protocol number that marks owned routes.
  returned: always
  type: int
  sample: 244
failures:
  description:
    - Every change the kernel refused (or did not acknowledge), with its errno. Changes are sent in chunks and a
      refusal stops the run after its chunk, so other changes of that chunk may have been made; they are listed in
      RV(added), RV(replaced) and RV(removed).
  returned: when the kernel refused a change
  type: list
  elements: dict
  sample: [{change: 'add 192.168.2.0/24 via 10.168.0.2 dev eth0 proto 244', errno: 101, error: Network is unreachable}]
'''

import time  # noqa: E402  pylint: disable=wrong-import-position

_T0 = time.perf_counter()

import ipaddress  # noqa: E402  pylint: disable=wrong-import-position
import os  # noqa: E402  pylint: disable=wrong-import-position
import re  # noqa: E402  pylint: disable=wrong-import-position
import sys  # noqa: E402  pylint: disable=wrong-import-position

from ansible.module_utils.basic import AnsibleModule  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.hostgw.network.plugins.module_utils import _netlink  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.hostgw.network.plugins.module_utils._routes import (  # noqa: E402  pylint: disable=wrong-import-position
    RouteChanges,
    RouteError,
    after_lines,
    check_next_hops,
    diff_routes,
    owned_lines,
    parse_wanted,
    route_line,
)


_IFINDEX = re.compile(r'\bdev if(\d+)\b')


class _Laps:
    """Phase timings for the benchmarks in bench/ (HOSTGW_BENCH_TIMING=1 adds them to the result)."""

    def __init__(self, enabled):
        self.enabled = enabled
        self.laps = {}
        self.last = time.perf_counter()

    def __call__(self, name):
        if self.enabled:
            now = time.perf_counter()
            self.laps[name] = self.laps.get(name, 0.0) + now - self.last
            self.last = now


_NO_LAPS = _Laps(False)


def find_dev(links, addrs, dev, node_ip):
    by_name = dict((l['name'], l) for l in links)
    if dev:
        if dev not in by_name:
            raise RouteError(['uplink %s does not exist on this host (links: %s)' % (dev, ', '.join(sorted(by_name)))])
        return by_name[dev]['index'], dev
    names = dict((l['index'], l['name']) for l in links)
    try:
        node_ip = ipaddress.ip_address(str(node_ip).strip())
    except ValueError:
        raise RouteError(['node_ip %r is not an IP address' % (node_ip,)])
    for a in addrs:
        if ipaddress.ip_address(a.address) == node_ip:
            return a.index, names.get(a.index, str(a.index))
    raise RouteError(['node IP %s is not an address of this host, so the uplink cannot be found; set dev' % node_ip])


def run(module, kernel, lap=_NO_LAPS):
    p = module.params
    proto = p['proto']
    links = kernel.links()
    names = dict((l['index'], l['name']) for l in links)
    existing = kernel.routes()
    lap('read')
    result = dict(changed=False, added=[], replaced=[], removed=[], unchanged=0, own_subnets=[], proto=proto)
    if p['state'] == 'absent':
        changes = RouteChanges()
        changes.delete = [r for r in existing if r.proto == proto]
        dev_index = dev_name = None
    else:
        addrs = kernel.addrs()
        lap('read')
        dev_index, dev_name = find_dev(links, addrs, p['dev'], p['node_ip'])
        result['dev'] = dev_name
        wanted = parse_wanted(p['routes'], p['metric'])
        keep, skipped = check_next_hops(wanted, addrs, dev_index, dev_name)
        result['own_subnets'] = [w.dest for w in skipped]
        seen = existing
        if module.check_mode and p['bridge']:
            # The bridge's connected routes go away when cni_bridge re-addresses it, which check mode did not do.
            bridge_index = next((l['index'] for l in links if l['name'] == p['bridge']), None)
            seen = [r for r in existing if not (r.oif == bridge_index and r.proto == 2 and not r.via)]
        try:
            changes = diff_routes(keep, seen, dev_index, proto, p['purge'])
        except RouteError as e:
            # diff_routes names links by index ('dev if3'): say which link that is.
            raise RouteError([_IFINDEX.sub(lambda m: 'dev %s' % names.get(int(m.group(1)), m.group(0)[4:]), err)
                              for err in e.errors])
        result['unchanged'] = changes.unchanged
        uplink = [l for l in links if l['index'] == dev_index]
        if (changes.add or changes.replace) and uplink and not uplink[0]['up']:
            # The kernel refuses gateway routes on a down link (ENETUNREACH) after some may be made.
            raise RouteError(['uplink %s is down: routes via it cannot be added; bring it up first' % dev_name])
    if module._diff:
        result['diff'] = dict(before='\n'.join(owned_lines(existing, proto, names)) + '\n',
                              after='\n'.join(after_lines(existing, changes, dev_name, proto, names)) + '\n',
                              before_header='routes (proto %d)' % proto, after_header='routes (proto %d)' % proto)
    result['changed'] = changes.changed
    lap('plan')

    def line_w(w):
        return route_line(w.family, w.dest, w.via, dev_name, proto, w.metric)

    def line_k(r):
        return route_line(r.family, r.dest, r.via, names.get(r.oif, r.oif), proto, r.metric)

    if module.check_mode or not changes.changed:
        result['added'] = [line_w(w) for w in changes.add]
        result['replaced'] = [line_w(w) for _old, w in changes.replace]
        result['removed'] = [line_k(r) for r in changes.delete]
        lap('report')
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
            module.fail_json(**_failure(done, action, items, line, batch))
    lap('apply')
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


def main():
    lap = _Laps(os.environ.get('HOSTGW_BENCH_TIMING') == '1')
    lap.laps['import'] = lap.last - _T0
    module = AnsibleModule(
        argument_spec=dict(
            routes=dict(type='list', elements='dict', options=dict(
                dest=dict(type='str', required=True),
                via=dict(type='str', required=True),
                host=dict(type='str'),
            )),
            dev=dict(type='str'),
            bridge=dict(type='str'),
            node_ip=dict(type='str'),
            proto=dict(type='int', default=244),
            metric=dict(type='int'),
            purge=dict(type='bool', default=True),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
        ),
        required_if=[('state', 'present', ('routes',)), ('state', 'present', ('dev', 'node_ip'), True)],
        supports_check_mode=True,
    )
    if not 5 <= module.params['proto'] <= 255:
        module.fail_json(msg='proto %d is not allowed: use 5-255 (0-4 belong to the kernel, boot and static routes)' % module.params['proto'])
    missing = _netlink.missing_pyroute2(sys.executable)
    if missing:
        module.fail_json(msg=missing, exception=_netlink.PYROUTE2_IMPORT_ERROR)
    if os.geteuid() != 0 and not module.check_mode:
        module.warn('not running as root: changing routes needs CAP_NET_ADMIN (use become: true)')
    lap('init')
    try:
        with _netlink.Kernel() as kernel:
            lap('connect')
            result = run(module, kernel, lap)
    except RouteError as e:
        module.fail_json(msg='; '.join(e.errors), errors=e.errors)
    lap('close')
    if lap.enabled:
        lap.laps['total'] = time.perf_counter() - _T0
        result['bench_timing'] = lap.laps
    module.exit_json(**result)


if __name__ == '__main__':
    main()
