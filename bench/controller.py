# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller-only model of the two run-once tasks, at 1,000 and 10,000 hosts: no hosts, no Ansible run.

    python bench/controller.py                    # N = 1,000 and 10,000
    python bench/controller.py --sizes 1000 --with-plan-fact

Measured, each in this process, seconds (median of ``--runs``) and MiB (tracemalloc peak of one more run):

``plan``       ``_inputs.plan_inventory`` (what hostgw_subnet's run() calls) on fake hostvars: plain dicts shaped as
               Ansible's HostVarsVars (``_vars`` raw, ``[key]`` a read), holding what hostgw_facts returns on a settled
               mesh (a ring lease and a small hostgw_host in ``ansible_facts``) and hostgw_node_ip.
``preflight``  ``_inputs.preflight_inputs`` + ``_preflight.check_mesh`` on the same hostvars and that plan.
``ansible``    Ansible reading one variable per host: ``hostvars[h]['hostgw_node_ip']`` for every host through
               Ansible's own InventoryManager / VariableManager / HostVars (each read computes the host's variables
               and templates the value), with the same facts set per host. This is the floor any run-once task that
               looks at every host pays.
``plan (Ansible HostVars)``  ``plan_inventory`` on those real HostVars: what the task costs in a run.

``--with-plan-fact`` also sets the plan as a fact on every host (as the run-once hostgw_subnet task does) and
measures ``ansible`` again: with ``INJECT_FACT_VARS`` on (the default) Ansible deep-copies every host's facts,
plan included, on each read: O(N) per read, N*N in all, whatever the task does. And once more with the plan
registered instead (``facts: false`` + ``register``: a registered result is not copied).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import import_collection  # noqa: E402  pylint: disable=wrong-import-position

import_collection()

# pylint: disable=wrong-import-position
from ansible_collections.hostgw.network.plugins.module_utils._inputs import plan_inventory, preflight_inputs  # noqa: E402
from ansible_collections.hostgw.network.plugins.module_utils._preflight import check_mesh  # noqa: E402
from ansible_collections.hostgw.network.plugins.module_utils._lease import leases  # noqa: E402

OPTIONS = dict(network='10.0.0.0/8', subnet_len=24, lease_peers=3, unknown_leases='fail')


class FakeHostVarsVars(dict):
    """Shaped like Ansible's HostVarsVars: raw variables in ``_vars``, ``[key]`` returns the (plain) value."""

    def __init__(self, raw):
        dict.__init__(self, raw)
        self._vars = raw


def name(i):
    return 'node%05d' % i


def node_ip(i):
    v = (100 << 24) | (64 << 16) | (i + 1)     # inside 100.64.0.0/10, the uplink's network
    return '%d.%d.%d.%d' % (v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255)


def host_facts(ip):
    return {'links': [{'name': 'lo', 'kind': None, 'mtu': 65536, 'up': True, 'alias': None},
                      {'name': 'eth0', 'kind': 'veth', 'mtu': 1500, 'up': True, 'alias': None}],
            'addresses': [{'ifname': 'eth0', 'family': 4, 'address': ip, 'prefixlen': 10, 'temporary': False}],
            'routes': [{'family': 4, 'dest': '100.64.0.0/10', 'via': None, 'dev': 'eth0', 'proto': 2, 'type': 'unicast'}],
            'default_ipv4': None, 'default_ipv6': None}


def settled(n):
    """Raw variables per host of a settled mesh: the leases a first plan wrote."""
    first = {}
    for i in range(n):
        first[name(i)] = {'hostgw_node_ip': node_ip(i),
                          'ansible_facts': {'hostgw_lease': {}, 'hostgw_host': host_facts(node_ip(i))}}
    hv = dict((h, FakeHostVarsVars(v)) for h, v in first.items())
    plan = plan_inventory('hostgw_nodes', sorted(hv), hv, sorted(hv), OPTIONS)
    written = leases(plan)
    for h, v in first.items():
        v['ansible_facts']['hostgw_lease'] = json.loads(json.dumps(written[h]))
    return first


def measure(fn, runs):
    times = []
    for _dummy in range(runs):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    times.sort()
    return times[len(times) // 2], peak / 2.0 ** 20


def ansible_hostvars(raw, with_plan=None, inject=True):
    from ansible import constants as C  # pylint: disable=import-outside-toplevel
    from ansible.inventory.manager import InventoryManager  # pylint: disable=import-outside-toplevel
    from ansible.parsing.dataloader import DataLoader  # pylint: disable=import-outside-toplevel
    from ansible.vars.hostvars import HostVars  # pylint: disable=import-outside-toplevel
    from ansible.vars.manager import VariableManager  # pylint: disable=import-outside-toplevel
    C.INJECT_FACTS_AS_VARS = inject
    fd, path = tempfile.mkstemp(suffix='.ini')
    with os.fdopen(fd, 'w') as f:
        f.write('[hostgw_nodes]\n')
        for h, v in raw.items():
            f.write('%s hostgw_node_ip=%s\n' % (h, v['hostgw_node_ip']))
    loader = DataLoader()
    inv = InventoryManager(loader=loader, sources=[path])
    vm = VariableManager(loader=loader, inventory=inv)
    for h, v in raw.items():
        facts = dict(v['ansible_facts'])
        if with_plan is not None:
            facts['hostgw_plan'] = with_plan
        vm.set_host_facts(h, facts)
    os.unlink(path)
    return HostVars(inventory=inv, variable_manager=vm, loader=loader)


def bench(n, runs, with_plan_fact):
    raw = settled(n)
    hv = dict((h, FakeHostVarsVars(v)) for h, v in raw.items())
    group = sorted(hv)
    out = {'hosts': n, 'lease_bytes_max': max(len(json.dumps(v['ansible_facts']['hostgw_lease'])) for v in raw.values())}
    plan = plan_inventory('hostgw_nodes', group, hv, group, OPTIONS)
    assert set(h['source'] for h in plan['hosts'].values()) == {'lease'} and plan['hosts'][group[0]]['uplink'] == 'eth0'
    out['plan_s'], out['plan_mib'] = measure(lambda: plan_inventory('hostgw_nodes', group, hv, group, OPTIONS), runs)

    def preflight():
        facts, ifaces, _names, errors = preflight_inputs(plan, hv, group)
        assert not errors, errors[:3]
        check_mesh(plan, facts, 'cni0', ifaces)
    out['preflight_s'], out['preflight_mib'] = measure(preflight, runs)

    for inject in (True, False):
        real = ansible_hostvars(raw, inject=inject)
        key = 'ansible_one_var%s' % ('' if inject else '_noinject')

        def one_var(real=real):
            for h in group:
                real[h]['hostgw_node_ip']   # pylint: disable=pointless-statement
        out[key + '_s'], out[key + '_mib'] = measure(one_var, 1)
        if inject:
            out['plan_real_s'], out['plan_real_mib'] = measure(
                lambda real=real: plan_inventory('hostgw_nodes', group, real, group, OPTIONS), 1)
    if with_plan_fact:
        for inject in (True, False):
            real = ansible_hostvars(raw, with_plan=plan, inject=inject)
            key = 'ansible_one_var_with_plan%s' % ('' if inject else '_noinject')

            def one_var_plan(real=real):
                for h in group:
                    real[h]['hostgw_node_ip']   # pylint: disable=pointless-statement
            out[key + '_s'], out[key + '_mib'] = measure(one_var_plan, 1)
        real = ansible_hostvars(raw, inject=True)       # the plan registered (run_once + register), not a fact
        for h in group:
            real._variable_manager.set_nonpersistent_facts(h, {'planned': {'plan': plan}})  # pylint: disable=protected-access

        def one_var_registered(real=real):
            for h in group:
                real[h]['hostgw_node_ip']   # pylint: disable=pointless-statement
        out['ansible_one_var_with_plan_registered_s'], out['ansible_one_var_with_plan_registered_mib'] = measure(one_var_registered, 1)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    p.add_argument('--sizes', type=int, nargs='+', default=[1000, 10000])
    p.add_argument('--runs', type=int, default=3)
    p.add_argument('--with-plan-fact', action='store_true')
    p.add_argument('--json', default=None, help='write the figures here too')
    args = p.parse_args(argv)
    rows = []
    for n in args.sizes:
        r = bench(n, args.runs, args.with_plan_fact)
        rows.append(r)
        print(json.dumps(r, sort_keys=True), flush=True)
    cols = [k for k in rows[0] if k.endswith('_s')]
    print('\n| hosts | ' + ' | '.join(cols) + ' |')
    print('|---|' + '---|' * len(cols))
    for r in rows:
        print('| {:,} | '.format(r['hosts']) + ' | '.join('%.2f s / %.0f MiB' % (r[c], r[c[:-2] + '_mib']) for c in cols) + ' |')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)


if __name__ == '__main__':
    main()
