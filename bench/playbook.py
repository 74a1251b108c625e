# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Playbook level on podman container hosts: playbooks/site.yml vs bench/naive.yml (one command per route).

Lab: podman network ``hostgw-bench`` (10.173.0.0/24, --internal: no route out of the machine) and containers
``hostgw-bench-1..N`` (10.173.0.i), made by molecule/shared/create.yml and removed by destroy.yml at the end,
also after a failure. For each size, on fresh containers:

1. bench/naive.yml, first run and re-run (it has no idempotence: every route is "changed" every time);
2. the naive routes are flushed (``ip route flush proto 244`` in every container);
3. playbooks/site.yml, first run and idempotent re-run;
4. check: host 1 holds exactly the routes the naive playbook installed.

Both playbooks use the same inventory, forks and connection (containers.podman.podman, which cannot
pipeline: every module run is several ``podman exec`` calls). Task wall times come from the callback
bench/callback_plugins/bench_timer.py.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time

from common import HERE, REPO, fmt_ratio, fmt_s, import_collection, log, median, sh, table

NETWORK = 'hostgw-bench'
SUBNET = '10.173.0.0/24'
PREFIX = 'hostgw-bench-'
POD_NETWORK = '10.244.0.0/16'
DEV = 'eth0'


def host_names(k):
    return ['%s%d' % (PREFIX, i) for i in range(1, k + 1)]


def lab_vars(k):
    return dict(lab_networks=[dict(name=NETWORK, subnet=SUBNET)],
                lab_hosts=[dict(name=h, networks=[dict(name=NETWORK, ip='10.173.0.%d' % i)])
                           for i, h in enumerate(host_names(k), 1)])


def inventory(k):
    hosts = dict((h, dict(hostgw_node_ip='10.173.0.%d' % i)) for i, h in enumerate(host_names(k), 1))
    return dict(all=dict(children=dict(hostgw_nodes=dict(
        hosts=hosts,
        vars=dict(ansible_connection='containers.podman.podman', ansible_python_interpreter='/usr/bin/python3',
                  ansible_become=False, hostgw_network=POD_NETWORK)))))


def planned_routes(k):
    """The routes the role's planner gives fresh hosts (hostgw_subnet: lowest free subnet by host name)."""
    import_collection()
    from ansible_collections.hostgw.network.plugins.module_utils._plan import Member, PlanOptions, plan_mesh  # pylint: disable=import-outside-toplevel
    from ansible_collections.hostgw.network.plugins.module_utils._mesh import member_routes  # pylint: disable=import-outside-toplevel
    members = [Member(h, node_ip='10.173.0.%d' % i, lease='') for i, h in enumerate(host_names(k), 1)]
    return member_routes(plan_mesh(members, PlanOptions(POD_NETWORK, 24))['hosts'])


class Lab:
    def __init__(self, tmp, max_hosts):
        self.tmp = tmp
        self.max_hosts = max_hosts

    def _vars_file(self, k):
        path = os.path.join(self.tmp, 'lab-%d.json' % k)
        with open(path, 'w') as f:
            json.dump(lab_vars(k), f)
        return path

    def create(self, k):
        t = time.perf_counter()
        sh('ansible-playbook', '-i', 'localhost,', os.path.join(REPO, 'molecule', 'shared', 'create.yml'),
           '-e', '@' + self._vars_file(k), timeout=900)
        return time.perf_counter() - t

    def destroy(self):
        p = sh('ansible-playbook', '-i', 'localhost,', os.path.join(REPO, 'molecule', 'shared', 'destroy.yml'),
               '-e', '@' + self._vars_file(self.max_hosts), check=False, timeout=900)
        if p.returncode != 0:
            log('destroy failed: %s' % (p.stdout[-1500:] + p.stderr[-1500:]))

    def flush_routes(self, k):
        for h in host_names(k):
            sh('podman', 'exec', h, 'ip', 'nexthop', 'flush')
            sh('podman', 'exec', h, 'ip', 'route', 'flush', 'proto', '244')

    def owned_routes(self, host):
        out = sh('podman', 'exec', host, 'ip', '-j', 'route', 'show', 'proto', '244').stdout.strip()
        return sorted((r['dst'], r.get('gateway'), r.get('dev')) for r in (json.loads(out) if out else []))


def run_playbook(tmp, inv_path, playbook, label, forks, extra=None):
    out = os.path.join(tmp, 'timer-%s.json' % label)
    env = dict(os.environ, ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, 'callback_plugins'),
               ANSIBLE_CALLBACKS_ENABLED='bench_timer', HOSTGW_BENCH_TIMER_OUT=out, ANSIBLE_FORKS=str(forks),
               ANSIBLE_NOCOLOR='1')
    cmd = ['ansible-playbook', '-i', inv_path, playbook]
    if extra:
        cmd += ['-e', '@' + extra]
    t = time.perf_counter()
    p = sh(*cmd, env=env, check=False, timeout=3600)
    wall = time.perf_counter() - t
    with open(os.path.join(tmp, 'log-%s.txt' % label), 'w') as f:
        f.write(p.stdout + p.stderr)
    if p.returncode != 0:
        raise RuntimeError('%s failed (rc %d):\n%s' % (label, p.returncode, (p.stdout + p.stderr)[-4000:]))
    with open(out) as f:
        timer = json.load(f)
    stats = timer['stats']
    route_tasks = [x for x in timer['tasks'] if x['action'].endswith(('hostgw_route', 'command'))
                   and any(h['status'] != 'skipped' for h in x['hosts'].values())]
    return dict(wall=wall, seconds=timer['seconds'], tasks=timer['tasks'], stats=stats,
                routes_step=sum(x['seconds'] for x in route_tasks),
                changed=sum(s['changed'] for s in stats.values()),
                changed_hosts=sum(1 for s in stats.values() if s['changed']),
                items_changed=sum(h.get('items_changed', 0) for x in route_tasks for h in x['hosts'].values()),
                per_host=dict((h, dict(ok=s['ok'], changed=s['changed'], skipped=s['skipped'])) for h, s in stats.items()))


PROBE_REPEAT = 10


def latency_probe(tmp, lab, k):
    """One host, one fork, nothing else running in Ansible: the cost of one module run through the podman
    connection (command, ping, hostgw_route with nothing to do), and inside the container the price of
    Python's start and of importing pyroute2."""
    host = host_names(k)[0]
    inv = os.path.join(tmp, 'inventory-probe.json')
    with open(inv, 'w') as fh:
        json.dump(inventory(k), fh)
    routes = planned_routes(k)
    pb = os.path.join(tmp, 'probe.yml')
    tasks = []
    for i in range(PROBE_REPEAT):   # interleaved, so that a change of load hits all three alike
        tasks.append({'name': 'command %d' % i, 'ansible.builtin.command': 'true', 'changed_when': False})
        tasks.append({'name': 'hostgw_route %d' % i, 'hostgw.network.hostgw_route': {'routes': routes, 'uplink': DEV}})
        tasks.append({'name': 'ping %d' % i, 'ansible.builtin.ping': {}})
    with open(pb, 'w') as fh:
        json.dump([{'name': 'probe', 'hosts': host, 'gather_facts': False, 'tasks': tasks}], fh)
    res = run_playbook(tmp, inv, pb, 'probe', 1)
    out = {}
    for t in res['tasks']:
        out.setdefault(t['name'].split()[0], []).append(t['seconds'])
    for dummy in range(5):
        for label, cmd in (('python_start', ['python3', '-c', 'pass']), ('import_pyroute2', ['python3', '-c', 'import pyroute2'])):
            t = time.perf_counter()
            sh('podman', 'exec', host, *cmd)
            out.setdefault(label, []).append(time.perf_counter() - t)
    return out


def bench_playbooks(sizes, forks=None):
    tmp = tempfile.mkdtemp(prefix='hostgw-bench-pb-')
    lab = Lab(tmp, max(sizes))
    data = dict(sizes=sizes, forks={}, results={}, logs=tmp)
    site = os.path.join(REPO, 'playbooks', 'site.yml')
    naive = os.path.join(HERE, 'naive.yml')
    try:
        for k in sizes:
            f = forks or k
            data['forks'][k] = f
            log('playbooks: %d container hosts (forks %d): creating them' % (k, f))
            r = data['results'][str(k)] = dict(create=lab.create(k))
            inv = os.path.join(tmp, 'inventory-%d.json' % k)
            with open(inv, 'w') as fh:
                json.dump(inventory(k), fh)
            routes = planned_routes(k)
            extra = os.path.join(tmp, 'naive-%d.json' % k)
            with open(extra, 'w') as fh:
                json.dump(dict(naive_routes=routes, naive_dev=DEV), fh)
            log('playbooks: %d hosts: naive.yml (first run, re-run)' % k)
            r['naive_1'] = run_playbook(tmp, inv, naive, 'naive-%d-1' % k, f, extra)
            r['naive_2'] = run_playbook(tmp, inv, naive, 'naive-%d-2' % k, f, extra)
            naive_routes = lab.owned_routes(host_names(k)[0])
            assert len(naive_routes) == k - 1, naive_routes
            lab.flush_routes(k)
            log('playbooks: %d hosts: site.yml (first run, re-run)' % k)
            r['site_1'] = run_playbook(tmp, inv, site, 'site-%d-1' % k, f)
            r['site_2'] = run_playbook(tmp, inv, site, 'site-%d-2' % k, f)
            assert lab.owned_routes(host_names(k)[0]) == naive_routes, 'site.yml and naive.yml installed different routes'
            assert r['site_2']['changed'] == 0, 're-run of site.yml changed something: %s' % r['site_2']['per_host']
            if 'probe' not in data:
                log('playbooks: %d hosts: one-host latency probe' % k)
                data['probe'] = latency_probe(tmp, lab, k)
    finally:
        log('playbooks: removing the lab (containers %s1..%d, network %s)' % (PREFIX, max(sizes), NETWORK))
        lab.destroy()
    return data


def report(data):
    rows = []
    for k in data['sizes']:
        r = data['results'][str(k)]
        n1, n2, s1, s2 = r['naive_1'], r['naive_2'], r['site_1'], r['site_2']
        rows.append(['%d (%d routes each)' % (k, k - 1), data['forks'][k],
                     fmt_s(n1['routes_step']), fmt_s(s1['routes_step']), fmt_ratio(n1['routes_step'], s1['routes_step']),
                     fmt_s(n2['routes_step']), fmt_s(s2['routes_step']), fmt_ratio(n2['routes_step'], s2['routes_step']),
                     fmt_s(n1['wall']), fmt_s(s1['wall']), fmt_s(s2['wall']),
                     '%d / %d' % (n2['items_changed'], s2['changed'])])
    out = ['### Playbooks on podman container hosts\n',
           table(['hosts', 'forks', 'routes step, naive, 1st run', 'routes step, site.yml, 1st run', 'speed-up',
                  'routes step, naive, re-run', 'routes step, site.yml, re-run', 'speed-up',
                  'naive.yml whole run', 'site.yml 1st run', 'site.yml re-run', 'changed on re-run (naive / site.yml)'],
                 rows)]
    if 'probe' in data:
        p = data['probe']
        out.append('\n### One module run through the podman connection (one host, one fork, %d runs each, medians)\n'
                   % PROBE_REPEAT)
        rows = [['ansible.builtin.command `true`', fmt_s(median(p['command']))],
                ['ansible.builtin.ping', fmt_s(median(p['ping']))],
                ['hostgw.network.hostgw_route, nothing to do', fmt_s(median(p['hostgw_route']))],
                ['inside the container: `podman exec` + `python3 -c pass`', fmt_s(median(p['python_start']))],
                ['inside the container: `podman exec` + `python3 -c "import pyroute2"`', fmt_s(median(p['import_pyroute2']))]]
        out.append(table(['what', 'wall'], rows))
    # Tasks per host of site.yml (first run): ok includes changed.
    rows = []
    for k in data['sizes']:
        r = data['results'][str(k)]
        s1, s2 = r['site_1'], r['site_2']
        h = sorted(s1['per_host'])[0]
        rows.append([k, h, s1['per_host'][h]['ok'], s1['per_host'][h]['changed'], s1['per_host'][h]['skipped'],
                     s2['per_host'][h]['ok'], s2['per_host'][h]['changed'], s2['per_host'][h]['skipped']])
    out.append('\n### site.yml tasks per host\n')
    out.append(table(['hosts', 'host', '1st run: ran (ok)', 'changed', 'skipped', 're-run: ran (ok)', 'changed', 'skipped'], rows))
    # Slowest tasks of the largest first run.
    k = data['sizes'][-1]
    s1 = data['results'][str(k)]['site_1']
    rows = [[t['name'].split(' : ', 1)[-1], t['action'].split('.')[-1], fmt_s(t['seconds'])] for t in s1['tasks']
            if any(h['status'] != 'skipped' for h in t['hosts'].values())]
    out.append('\n### site.yml first run on %d hosts, task by task\n' % k)
    out.append(table(['task', 'module', 'wall'], rows))
    return '\n'.join(out) + '\n'


def cleanup_tmp(data):
    shutil.rmtree(data.get('logs', ''), ignore_errors=True)
