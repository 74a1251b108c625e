# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Boot restore and drift repair: replay the state the modules applied, through the modules' own apply code.

``hostgw.network.hostgw_restore`` saves what ``cni_bridge``, ``hostgw_route`` and ``hostgw_firewall`` applied (their
``boot_state`` results) as ``<state_dir>/restore.json`` and installs a copy of this code and of what it imports as
the boot program (``<state_dir>/restore/hostgw-restore``). At boot (and from the repair timer) the program calls
``replay``, which calls the functions the modules call, with the boot policy (``_node.RESTORE``): add what is
missing, replace only what hostgw owns, delete nothing, report every conflict and failure and carry on:

* forwarding sysctls: ``_sysctl.ensure_on``, as ``hostgw_firewall`` with ``forwarding``;
* the bridge: ``_node.bridge`` (created when missing, marked as hostgw's, brought up, given its MTU and every
  missing gateway address; a link of that name that hostgw does not own is left alone and reported);
* routes and next-hop objects: ``_node.routes`` (missing ones added, owned ones with another next hop replaced in
  place; a foreign route on a wanted destination is left as it is and reported);
* the firewall: ``_firewall.converge``, the module's own call (hostgw's tables or chains rewritten, their jumps
  appended when missing; other rules never touched).

Every failure is one line naming what failed, and the program exits non-zero when anything failed.
No Ansible import: the program runs with the target's Python alone.
"""

from __future__ import annotations

import json
import sys

from ansible_collections.hostgw.network.plugins.module_utils import _netlink, _node
from ansible_collections.hostgw.network.plugins.module_utils._bridge import BridgeError
from ansible_collections.hostgw.network.plugins.module_utils._firewall import SubprocessRunner, converge
from ansible_collections.hostgw.network.plugins.module_utils._routes import RouteError
from ansible_collections.hostgw.network.plugins.module_utils._sysctl import FORWARDING, ensure_on, sysctl_path

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


# The one writer and the one reader of restore.json: the installer (_boot_install) writes what dump_state returns,
# the program reads it back with load_state.
def dump_state(doc):
    """The bytes of ``restore.json`` for ``doc`` (stable: sorted keys, so an unchanged state rewrites nothing)."""
    return json.dumps(doc, indent=2, sort_keys=True) + '\n'


def load_state(path):
    """The document in ``path``; raises ``IOError``/``OSError``/``ValueError`` when it cannot be read or parsed
    (``replay`` checks the schema)."""
    with open(path) as f:  # pylint: disable=unspecified-encoding
        return json.load(f)


# ---- sysctls -------------------------------------------------------------------------------------------------
def replay_sysctls(sysctls, report):
    """The forwarding sysctls through ``_sysctl.ensure_on`` (what hostgw_firewall's ``forwarding`` uses)."""
    names = []
    for name in sorted(sysctls or {}):
        if name not in SYSCTL_PATH:
            report.fail('sysctl %s: not one hostgw sets' % name)
        elif str(sysctls[name]) != '1':
            report.fail('sysctl %s = %s: hostgw only turns it on (1)' % (name, sysctls[name]))
        else:
            names.append(name)
    res = ensure_on(names, check_mode=report.check)
    was = dict(line.split(' = ', 1) for line in res['before'])
    for line in res['actions']:
        name = line.split(' = ', 1)[0]
        report.change('sysctl %s (was %s)' % (line, was.get(name)))
    for line in res['failures']:
        report.fail('sysctl %s' % line)


# ---- bridge --------------------------------------------------------------------------------------------------
def replay_bridge(spec, kernel, report):
    """``_node.bridge`` with the RESTORE policy: create/complete the bridge; never delete a link or an address; a
    foreign link of that name is reported."""
    name = spec['name']
    p = dict(bridge=name, addresses=spec.get('addresses') or [], mtu=spec.get('mtu'), state='present')
    try:
        res = _node.bridge(p, kernel, check_mode=report.check, policy=_node.RESTORE)
    except (BridgeError, OSError) as e:
        report.fail('bridge %s: %s' % (name, e))
        return
    for act in res['actions']:
        report.change('bridge %s: %s' % (name, act))
    for f in res['failures']:
        report.fail('bridge %s: %s: %s' % (name, f['change'], f['error']))


# ---- routes --------------------------------------------------------------------------------------------------
def replay_routes(spec, kernel, report):
    """``_node.routes`` with the RESTORE policy: add missing routes, replace owned ones with another next hop;
    foreign routes are reported, never touched; nothing is deleted."""
    dev = spec['uplink']
    vxlan = spec.get('vxlan') or None
    p = dict(routes=list(spec.get('routes') or []), uplink=dev, node_ip=None, bridge=None,
             proto=int(spec['proto']), metric=None, purge=False, state='present',
             nexthop_objects='auto' if spec.get('nexthop_objects') else 'false')
    if vxlan:
        # Peers on other segments: the device, FDB and neighbor entries and routes the run made, from the saved split.
        p.update(cross_subnet='vxlan', vxlan_state=vxlan, metric=vxlan.get('metric'),
                 vxlan=dict(name=vxlan.get('name'), vni=vxlan.get('vni'), port=vxlan.get('port')))
    if not p['routes'] and not vxlan:
        return
    try:
        res = _node.routes(p, kernel, check_mode=report.check, policy=_node.RESTORE)
    except RouteError as e:
        for err in e.errors:
            report.fail('routes: %s' % err)
        return
    except OSError as e:
        report.fail('routes: cannot read the kernel: %s' % e)
        return
    if spec.get('nexthop_objects') and not res['nexthop_objects']:
        report.change('routes: this kernel has no next-hop objects: plain routes instead')
    for err in res['errors']:
        report.fail('routes: %s' % err)
    for msg in res['conflicts']:
        report.fail('route %s: left as it is' % msg)
    report.changes.extend('nexthop add %s' % line for line in res['nexthops_added'])
    report.changes.extend('route replace %s' % line for line in res['replaced'])
    report.changes.extend('route add %s' % line for line in res['added'])
    report.changes.extend('vxlan %s' % line for line in (res.get('vxlan') or {}).get('changes', []))
    for f in res['failures']:
        nexthop = f['change'].split(' ', 1)[-1].startswith('id ')
        report.fail('%s %s: %s' % ('nexthop' if nexthop else 'route', f['change'], f['error']))
        if nexthop and f is res['failures'][-1]:
            report.fail('routes: next-hop objects could not all be made: routes not restored')


# ---- firewall ------------------------------------------------------------------------------------------------
def replay_firewall(spec, report, runner=None):
    """hostgw's own firewall state exactly as hostgw_firewall applies it: the same ``converge()`` with the same spec
    (backend nftables or iptables as ``firewall`` says; hostgw's state in the other backend removed)."""
    res = converge(spec, runner or SubprocessRunner(), check_mode=report.check)
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
        state = load_state(path)
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
