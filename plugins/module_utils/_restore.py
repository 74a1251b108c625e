# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Boot restore and drift repair: replay the state the modules applied, with the modules' own semantics.

``hostgw.network.hostgw_restore`` saves what ``cni_bridge``, ``hostgw_route`` and ``hostgw_firewall`` applied (their
``boot_state`` results) as ``<state_dir>/restore.json`` and installs a copy of this code as the boot program
(``<state_dir>/restore/hostgw-restore``). At boot (and from the repair timer) the program calls ``replay``:

* forwarding sysctls are set;
* the bridge is created when missing (marked as hostgw's), brought up, given its MTU and every missing gateway
  address; a link of that name that hostgw does not own is left alone and reported; no address is ever deleted;
* every missing route is added and every owned route (hostgw's protocol) with another next hop is replaced in
  place; a foreign route on a wanted destination is left as it is and reported; nothing is ever deleted;
* hostgw's own firewall chains are rewritten and their jumps appended when missing (the same rule model as
  ``hostgw_firewall``); other rules are never touched.

Every failure is one line naming what failed, and the program exits non-zero when anything failed.
No Ansible import: the program runs with the target's Python alone.
"""

from __future__ import annotations

import json
import sys

from ansible_collections.hostgw.network.plugins.module_utils import _netlink
from ansible_collections.hostgw.network.plugins.module_utils._bridge import OWNER_ALIAS, BridgeError, plan_bridge
from ansible_collections.hostgw.network.plugins.module_utils._firewall import SubprocessRunner, converge
from ansible_collections.hostgw.network.plugins.module_utils._node import apply_bridge_action, read_bridge
from ansible_collections.hostgw.network.plugins.module_utils._sysctl import FORWARDING, sysctl_path
from ansible_collections.hostgw.network.plugins.module_utils._routes import (
    RouteError,
    nexthop_line,
    parse_wanted,
    plan_routes,
    route_line,
)

__metaclass__ = type  # pylint: disable=invalid-name

SCHEMA = 1
PROGRAM = 'hostgw-restore'
#: The sysctls the boot program may set: the forwarding knobs, named in one place (_sysctl).
SYSCTL_PATH = dict((name, sysctl_path(name)) for name in FORWARDING.values())


class Report:
    """What the replay did: ``changes`` and ``failures`` are lines, each naming one object."""

    def __init__(self, check=False):
        self.check = check
        self.changes = []
        self.failures = []

    def change(self, line):
        self.changes.append(line)

    def fail(self, line):
        self.failures.append(line)


def boot_state(bridge=None, routes=None, firewall=None, sysctls=None):
    """The document ``restore.json`` holds (each part as its module returned it in ``boot_state``)."""
    return dict(schema=SCHEMA, bridge=bridge, routes=routes, firewall=firewall, sysctls=sysctls or {})


# ---- sysctls -------------------------------------------------------------------------------------------------
def replay_sysctls(sysctls, report):
    for name in sorted(sysctls or {}):
        path = SYSCTL_PATH.get(name)
        want = str(sysctls[name])
        if path is None:
            report.fail('sysctl %s: not one hostgw sets' % name)
            continue
        try:
            with open(path) as f:
                have = f.read().strip()
            if have == want:
                continue
            if not report.check:
                with open(path, 'w') as f:
                    f.write(want + '\n')
            report.change('sysctl %s = %s (was %s)' % (name, want, have))
        except (IOError, OSError) as e:
            report.fail('sysctl %s = %s: %s' % (name, want, e))


# ---- bridge --------------------------------------------------------------------------------------------------
def replay_bridge(spec, kernel, report):
    """Create/complete the bridge; never delete a link or an address; a foreign link of that name is reported."""
    name = spec['name']
    try:
        link, addrs = read_bridge(kernel, name)
    except OSError as e:
        report.fail('bridge %s: cannot read links and addresses: %s' % (name, e))
        return
    if link is not None and link.get('alias') != OWNER_ALIAS:
        report.fail('bridge %s: a link of that name exists that hostgw does not own (kind %s, alias %r): left as it is'
                    % (name, link.get('kind'), link.get('alias')))
        return
    try:
        actions = plan_bridge(link, addrs, spec.get('addresses') or [], spec.get('mtu'))
    except BridgeError as e:
        report.fail('bridge %s: %s' % (name, e))
        return
    # Restore adds what is missing: an extra address on the bridge is left for the next hostgw run to judge.
    actions = [a for a in actions if a[0] not in ('addr_del', 'delete')]
    index = link['index'] if link is not None else None
    for act in actions:
        what = 'bridge %s: %s' % (name, ' '.join(str(x) for x in act))
        if report.check:
            report.change(what)
            continue
        try:
            index = apply_bridge_action(kernel, name, index, act)
        except OSError as e:
            report.fail('%s: %s' % (what, e))
            if act[0] == 'create':
                return
            continue
        report.change(what)


# ---- routes --------------------------------------------------------------------------------------------------
def replay_routes(spec, kernel, report):
    """Add missing routes, replace owned ones with another next hop; foreign routes are reported, never touched."""
    dev = spec['uplink']
    proto = int(spec['proto'])
    try:
        wanted = parse_wanted(spec.get('routes') or [])
    except RouteError as e:
        for err in e.errors:
            report.fail('routes: %s' % err)
        return
    if not wanted:
        return
    try:
        links = kernel.links()
        existing = kernel.routes()
        nexthops = kernel.nexthops()
    except OSError as e:
        report.fail('routes: cannot read the kernel: %s' % e)
        return
    dev_index = next((x['index'] for x in links if x['name'] == dev), None)
    if dev_index is None:
        report.fail('routes: uplink %s does not exist: %d route(s) not restored' % (dev, len(wanted)))
        return
    use_nh = bool(spec.get('nexthop_objects')) and nexthops is not None
    if spec.get('nexthop_objects') and nexthops is None:
        report.change('routes: this kernel has no next-hop objects: plain routes instead')
    conflicts = []
    names = dict((x['index'], x['name']) for x in links)
    changes, nh_ids, nh_add, _none = plan_routes(wanted, existing, nexthops, dev_index, proto, use_nh, purge=False,
                                                 conflicts=conflicts, names=names)
    for msg in conflicts:
        report.fail('route %s: left as it is' % msg)
    nh = nh_ids or {}

    def line(w):
        return route_line(w.family, w.dest, w.via, dev, proto, w.metric, nh.get(w.via))

    if nh_add:
        if report.check:
            report.changes.extend('nexthop add %s' % nexthop_line(n, names) for n in nh_add)
        else:
            batch = kernel.nexthops_apply([('add', n) for n in nh_add])
            report.changes.extend('nexthop add %s' % nexthop_line(nh_add[i], names) for i in batch.done)
            if batch.failed or batch.error is not None:
                for i, e in batch.failed:
                    report.fail('nexthop add %s: %s' % (nexthop_line(nh_add[i], names), e))
                report.fail('routes: next-hop objects could not all be made: routes not restored')
                return
    for action, items in (('replace', [w for _old, w in changes.replace]), ('add', changes.add)):
        if not items:
            continue
        if report.check:
            report.changes.extend('route %s %s' % (action, line(w)) for w in items)
            continue
        # routes_apply stops at the first refused chunk, so send what is left again after each refusal: every
        # route gets its own outcome.
        todo = list(items)
        while todo:
            batch = kernel.routes_apply([(action, w, nh.get(w.via)) for w in todo], dev_index, proto)
            report.changes.extend('route %s %s' % (action, line(todo[i])) for i in batch.done)
            for i, e in batch.failed:
                report.fail('route %s %s: %s' % (action, line(todo[i]), e))
            if batch.error is not None:
                for i in batch.unknown:
                    report.fail('route %s %s: no answer from the kernel (%s)' % (action, line(todo[i]), batch.error))
                break
            if not batch.failed:
                break
            todo = todo[max(set(batch.done) | set(i for i, _e in batch.failed)) + 1:]


# ---- firewall ------------------------------------------------------------------------------------------------
def replay_firewall(spec, report, runner=None):
    """hostgw's own firewall state exactly as hostgw_firewall applies it: the same ``converge()`` with the same spec
    (backend nftables or iptables as ``firewall`` says; hostgw's state in the other backend removed)."""
    res = converge(dict(spec, forwarding=False), runner or SubprocessRunner(), check_mode=report.check)
    for line in res['actions']:
        report.change('firewall %s' % line)
    for line in res['failures']:
        report.fail('firewall %s' % line)


# ---- the whole replay ----------------------------------------------------------------------------------------
def replay(state, kernel, check=False, runner=None):
    """Bring the node back to ``state`` (a ``restore.json`` document). Returns a ``Report``."""
    report = Report(check)
    if not isinstance(state, dict) or state.get('schema') != SCHEMA:
        report.fail('state: not a hostgw restore document of schema %d' % SCHEMA)
        return report
    replay_sysctls(state.get('sysctls'), report)
    if state.get('bridge'):
        replay_bridge(state['bridge'], kernel, report)
    if state.get('routes'):
        replay_routes(state['routes'], kernel, report)
    if state.get('firewall'):
        replay_firewall(state['firewall'], report, runner)
    return report


def main(argv=None, out=sys.stdout):
    """The boot program: ``hostgw-restore [--check] STATE_FILE``. Exit 0: all in place; 1: something failed;
    with ``--check``, 3: something would change."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = '--check' in args
    args = [a for a in args if a != '--check']
    if len(args) != 1:
        out.write('usage: %s [--check] STATE_FILE\n' % PROGRAM)
        return 2
    path = args[0]
    try:
        with open(path) as f:
            state = json.load(f)
    except (IOError, OSError, ValueError) as e:
        out.write('%s: FAILED: cannot read %s: %s\n' % (PROGRAM, path, e))
        return 1
    try:
        with _netlink.Kernel() as kernel:
            report = replay(state, kernel, check)
    except OSError as e:
        out.write('%s: FAILED: netlink: %s\n' % (PROGRAM, e))
        return 1
    verb = 'would change' if check else 'changed'
    for line in report.changes:
        out.write('%s: %s: %s\n' % (PROGRAM, verb, line))
    for line in report.failures:
        out.write('%s: FAILED: %s\n' % (PROGRAM, line))
    out.write('%s: %d %s, %d failed\n' % (PROGRAM, len(report.changes), verb, len(report.failures)))
    out.flush()
    if report.failures:
        return 1
    return 3 if check and report.changes else 0
