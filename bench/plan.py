# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller-side planning, in this process: ``plan_mesh``, and the action plugin hostgw_subnet's whole
``run()`` (inventory to plan) with its ``collect_members``, ``plan_mesh`` and ``summarize`` timed where it calls them.
Ansible's own cost of producing hostvars (templating) is not included: hostvars are plain dicts.

Cluster network 10.0.0.0/8 in /24 subnets (65,535 allocatable: Flannel keeps the first one back), node IPs
100.64.0.0/10. Cases:

``new``      every host is new (leases known and empty): all subnets allocated in name order.
``settled``  every host holds the lease the ``new`` plan gave it (the usual re-run).
``1% lost``  (action plugin only) 1% of the hosts lost their lease file; every lease is a ring lease (3 peer
             records, as the plan builds them), so their subnets come from what their ring predecessors recorded.
"""

from __future__ import annotations

import gc
import time
from types import SimpleNamespace

from common import fmt_s, import_collection, log, median, table

import_collection()

# pylint: disable=wrong-import-position
from ansible_collections.hostgw.network.plugins.module_utils._plan import Member, PlanOptions, plan_mesh  # noqa: E402
from ansible_collections.hostgw.network.plugins.module_utils._lease import leases  # noqa: E402
from ansible_collections.hostgw.network.plugins.module_utils import _inputs as inputs  # noqa: E402
from ansible_collections.hostgw.network.plugins.action import hostgw_subnet as action  # noqa: E402

NETWORK = '10.0.0.0/8'


def names(n):
    return ['node%05d' % i for i in range(n)]


def node_ip(i):
    v = (100 << 24) | (64 << 16) | (i + 1)
    return '%d.%d.%d.%d' % (v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255)


def members_new(n):
    return [Member(name, node_ip=node_ip(i), lease='', in_run=True) for i, name in enumerate(names(n))]


def members_settled(n, plan):
    hosts = plan['hosts']
    return [Member(name, node_ip=node_ip(i), lease=hosts[name]['subnet'], in_run=True) for i, name in enumerate(names(n))]


def hostvars_for(n, plan, lost=0.0):
    """Plain-dict hostvars as the action plugin sees them; ``lost``: share of hosts without a lease."""
    written = leases(dict(plan, lease_peers=3))
    every = int(1 / lost) if lost else 0
    hv = {}
    for i, name in enumerate(names(n)):
        v = {'hostgw_node_ip': node_ip(i)}
        if not (every and i % every == 0):
            v['hostgw_lease'] = written[name]
        else:
            v['hostgw_lease'] = {}
        hv[name] = v
    return hv


def _time(fn, runs):
    out = []
    for dummy in range(runs):
        gc.collect()
        t = time.perf_counter()
        res = fn()
        out.append(time.perf_counter() - t)
    return out, res


class ActionRunner:
    """The real action plugin (ActionModule.run) on plain-dict hostvars, the steps of ``_inputs.plan_inventory``
    timed where it calls them."""

    PHASES = ('read_inputs', 'plan_mesh', 'summarize', 'host_uplinks', 'build_leases')

    def __init__(self):
        self.laps = {}
        for name in self.PHASES:
            orig = getattr(inputs, name, None)
            if orig is not None and not getattr(orig, '_bench', False):
                setattr(inputs, name, self._wrap(name, orig))

    def _wrap(self, name, fn):
        def timed_fn(*args, **kw):
            t = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                self.laps[name] = self.laps.get(name, 0.0) + time.perf_counter() - t
        timed_fn._bench = True
        return timed_fn

    def run(self, group, hostvars):
        task = SimpleNamespace(async_val=0, check_mode=False, action='hostgw.network.hostgw_subnet',
                               args=dict(network=NETWORK, subnet_len=24, group='hostgw_nodes'))
        conn = SimpleNamespace(_shell=SimpleNamespace(tmpdir=None))
        mod = action.ActionModule(task, conn, None, None, None, None)
        self.laps = {}
        t = time.perf_counter()
        res = mod.run(task_vars=dict(groups={'hostgw_nodes': group}, hostvars=hostvars, ansible_play_hosts=group))
        self.laps['total'] = time.perf_counter() - t
        assert not res.get('failed'), res
        return res['plan'], dict(self.laps)


def bench_plan(sizes, runs, action_sizes):
    data = dict(sizes=sizes, action_sizes=action_sizes, runs={}, results={})
    for n in sizes:
        reps = runs(n)
        data['runs'][n] = reps
        log('planning N=%d (%d runs)' % (n, reps))
        ms = members_new(n)
        t_new, plan = _time(lambda: plan_mesh(ms, PlanOptions(NETWORK, 24)), reps)
        assert len(plan['hosts']) == n and plan['hosts']['node00000']['subnet'] == '10.0.1.0/24'
        ms2 = members_settled(n, plan)
        t_settled, plan2 = _time(lambda: plan_mesh(ms2, PlanOptions(NETWORK, 24)), reps)
        assert all(h['subnet'] == plan['hosts'][name]['subnet'] for name, h in plan2['hosts'].items())
        data['results'][str(n)] = dict(plan_new=t_new, plan_settled=t_settled)
    runner = ActionRunner()
    for n in action_sizes:
        reps = runs(n)
        data['runs'].setdefault(n, reps)
        log('action plugin N=%d (%d runs)' % (n, reps))
        plan = plan_mesh(members_new(n), PlanOptions(NETWORK, 24))
        group = names(n)
        row = data['results'].setdefault(str(n), {})
        cases = (('new', dict((name, {'hostgw_node_ip': node_ip(i), 'hostgw_lease': {}}) for i, name in enumerate(group))),
                 ('settled', hostvars_for(n, plan)),
                 ('lost1', hostvars_for(n, plan, 0.01)))
        for case, hv in cases:
            samples = []
            for dummy in range(reps):
                gc.collect()
                got, laps = runner.run(group, hv)
                samples.append(laps)
            assert all(h['subnet'] == plan['hosts'][name]['subnet'] for name, h in got['hosts'].items())
            row['action_' + case] = samples
    return data


def report(data):
    res = data['results']
    out = ['### plan_mesh (10.0.0.0/8 in /24s)\n']
    rows = []
    for n in data['sizes']:
        r = res[str(n)]
        rows.append(['{:,}'.format(n), data['runs'][n], fmt_s(median(r['plan_new'])), fmt_s(median(r['plan_settled'])),
                     '%.1f us' % (median(r['plan_new']) / n * 1e6)])
    out.append(table(['hosts', 'runs', 'all new', 'settled (every host has its lease)', 'per host (new)'], rows))
    if data['action_sizes']:
        out.append('\n### Action plugin hostgw_subnet (ActionModule.run, plain-dict hostvars)\n')
        rows = []
        for n in data['action_sizes']:
            r = res[str(n)]
            for case, label in (('new', 'no host has a lease yet'), ('settled', 'every host has its lease'),
                                ('lost1', '1% lost their lease (subnets from peer records)')):
                s = r['action_' + case]
                row = ['{:,}'.format(n), label, fmt_s(median([x['total'] for x in s]))]
                row += [fmt_s(median([x.get(p) for x in s])) for p in ActionRunner.PHASES]
                rows.append(row)
        out.append(table(['hosts', 'case', 'whole run()'] + list(ActionRunner.PHASES), rows))
    return '\n'.join(out) + '\n'
