# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Route installation on one host: hostgw_route vs ``ip -batch`` vs one ``ip route`` process per route.

The benchmark creates two network namespaces, ``hgwb-<pid>-node`` and ``hgwb-<pid>-peer``, joined by a
veth pair (``eth0`` on both sides). The node's eth0 holds 172.16.0.1/16; peer i is the next hop
172.16.<1 + i // 250>.<1 + i % 250> (on-link, never answered: nothing is sent anywhere) and its pod subnet
is 10.<i // 256>.<i % 256>.0/24. Both namespaces are deleted at the end, also on failure. Nothing is
created in, or connected to, the machine's own namespace.

hostgw_route runs as Ansible runs a module (``python hostgw_route.py ARGSFILE`` inside the namespace, via
``ip netns exec``), wrapped by ``bench/module_timer.py``, which times from outside the plugin code: ``import``
(the module and its module_utils) and ``run`` (the one ``_node.routes`` call: read, plan, apply). "In-module"
below is ``run``; "whole module" is the wall time from process start to the JSON.
"""

from __future__ import annotations

import json
import os
import tempfile
import time

from common import REPO, collections_root, fmt_ratio, fmt_s, loadavg, log, median, python_info, sh, table, timed

#: The last _netlink.py that read and wrote routes through pyroute2 (one ``route()`` call per change).
BASELINE_REV = '8c43d98'

# Appended to the old _netlink.py: the batch method hostgw_route calls, done the old way (one pyroute2
# route() per change, stop at the first refusal).
_BASELINE_SHIM = """


class BatchResult:
    def __init__(self):
        self.done = []
        self.failed = []
        self.error = None
        self.unknown = []


def _routes_apply(self, ops, oif=None, proto=None):
    res = BatchResult()
    for i, (action, r) in enumerate(ops):
        try:
            if action == 'add':
                self.route_add(r, oif, proto)
            elif action == 'replace':
                self.route_replace(r, oif, proto)
            else:
                self.route_del(r)
        except NetlinkError as e:
            res.failed.append((i, e))
            break
        res.done.append(i)
    return res


Kernel.routes_apply = _routes_apply
Kernel.nexthops = lambda self: None    # the old seam knew no next-hop objects
"""


def baseline_collections(rev, tmp):
    """A collections root where hostgw.network is this checkout except _netlink.py, taken from ``rev`` (pyroute2 path)."""
    root = os.path.join(tmp, 'baseline-collections')
    coll = os.path.join(root, 'ansible_collections', 'hostgw', 'network')
    utils = os.path.join(coll, 'plugins', 'module_utils')
    os.makedirs(utils)
    for name in os.listdir(REPO):
        if name not in ('plugins', '.git'):
            os.symlink(os.path.join(REPO, name), os.path.join(coll, name))
    for name in os.listdir(os.path.join(REPO, 'plugins')):
        if name != 'module_utils':
            os.symlink(os.path.join(REPO, 'plugins', name), os.path.join(coll, 'plugins', name))
    for name in os.listdir(os.path.join(REPO, 'plugins', 'module_utils')):
        if name.endswith('.py') and name != '_netlink.py':
            os.symlink(os.path.join(REPO, 'plugins', 'module_utils', name), os.path.join(utils, name))
    old = sh('git', '-C', REPO, 'show', '%s:plugins/module_utils/_netlink.py' % rev).stdout
    with open(os.path.join(utils, '_netlink.py'), 'w') as f:
        f.write(old + _BASELINE_SHIM)
    return root


PHASES = ('import', 'run')


def peer(i, variant=0):
    dest = '10.%d.%d.0/24' % (i // 256, i % 256)
    via = '172.16.%d.%d' % ((1 if variant == 0 else 101) + i // 250, 1 + i % 250)
    return dict(dest=dest, via=via, host='peer%d' % i)


def wanted(n, churn=0):
    """n peers; the first ``churn`` of every 100 get another next hop (1% churn: churn=1)."""
    return [peer(i, 1 if (i % 100) < churn else 0) for i in range(n)]


def same_gateway(routes):
    """The same destinations all via one next hop: the kernel's cost per route stays flat (see docs/benchmarks.md)."""
    return [dict(r, via='172.16.0.2') for r in routes]


def batch_lines(routes, verb='add', same_gw=False):
    return ''.join('route %s %s via %s dev eth0 proto 244\n' % (verb, r['dest'], '172.16.0.2' if same_gw else r['via'])
                   for r in routes)


class RouteLab:
    def __init__(self):
        self.prefix = 'hgwb-%d-' % os.getpid()
        self.node = self.prefix + 'node'
        self.peer = self.prefix + 'peer'
        self.tmp = tempfile.mkdtemp(prefix='hostgw-bench-')
        self.collections = collections_root()
        self.made = []
        try:
            for ns in (self.node, self.peer):
                sh('ip', 'netns', 'add', ns)
                self.made.append(ns)
                sh('ip', '-n', ns, 'link', 'set', 'lo', 'up')
            # Both ends are created inside the benchmark's namespaces: the host namespace never sees them.
            sh('ip', '-n', self.node, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', self.peer)
            sh('ip', '-n', self.node, 'addr', 'add', '172.16.0.1/16', 'dev', 'eth0')
            sh('ip', '-n', self.peer, 'addr', 'add', '172.16.0.2/16', 'dev', 'eth0')
            sh('ip', '-n', self.node, 'link', 'set', 'eth0', 'up')
            sh('ip', '-n', self.peer, 'link', 'set', 'eth0', 'up')
            default = sh('ip', '-n', self.node, 'route', 'show', 'default').stdout.strip()
            assert not default, 'benchmark namespace has a default route: %s' % default
        except Exception:
            self.close()
            raise

    def close(self):
        for ns in reversed(self.made):
            sh('ip', 'netns', 'del', ns, check=False)
        self.made = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def flush(self):
        sh('ip', '-n', self.node, 'nexthop', 'flush')
        sh('ip', '-n', self.node, 'route', 'flush', 'proto', '244')
        # Let RCU free the old next hops before the next measurement.
        time.sleep(0.05)

    def owned_count(self):
        out = sh('ip', '-n', self.node, '-j', 'route', 'show', 'proto', '244').stdout.strip()
        return len(json.loads(out)) if out else 0

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def ip_batch(self, routes, verb='add', same_gw=False):
        path = self.write('batch.txt', batch_lines(routes, verb, same_gw))
        return timed('ip', '-n', self.node, '-batch', path)[0]

    def ip_batch_nh(self, routes):
        """The same routes through one next-hop object per peer, in one ``ip -batch``."""
        lines = ['nexthop add id %d via %s dev eth0 proto 244' % (1 + i, r['via']) for i, r in enumerate(routes)]
        lines += ['route add %s nhid %d proto 244' % (r['dest'], 1 + i) for i, r in enumerate(routes)]
        path = self.write('batch-nh.txt', '\n'.join(lines) + '\n')
        return timed('ip', '-n', self.node, '-batch', path)[0]

    def ip_loop(self, routes):
        t = time.perf_counter()
        for r in routes:
            sh('ip', '-n', self.node, 'route', 'replace', r['dest'], 'via', r['via'], 'dev', 'eth0', 'proto', '244')
        return time.perf_counter() - t

    def ip_show(self):
        return timed('ip', '-n', self.node, '-j', 'route', 'show', 'table', 'main')[0]

    def hostgw(self, python, args, collections=None):
        """Run hostgw_route in the node namespace; return (wall seconds, result)."""
        payload = {'ANSIBLE_MODULE_ARGS': dict(args, _ansible_check_mode=False, _ansible_diff=False)}
        path = self.write('args.json', json.dumps(payload))
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('ANSIBLE_', 'PYTHON')))
        env.update(PYTHONPATH=collections or self.collections, LC_ALL='C.UTF-8', PYTHONDONTWRITEBYTECODE='1')
        t = time.perf_counter()
        module = os.path.join(collections or self.collections, 'ansible_collections', 'hostgw', 'network', 'plugins',
                              'modules', 'hostgw_route.py')
        timer = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'module_timer.py')
        p = sh('ip', 'netns', 'exec', self.node, python, timer, module, path, env=env, check=False)
        wall = time.perf_counter() - t
        try:
            result = json.loads(p.stdout)
        except ValueError:
            raise RuntimeError('hostgw_route printed no JSON (rc %d): %s %s' % (p.returncode, p.stdout[-1000:], p.stderr[-2000:]))
        if result.get('failed'):
            raise RuntimeError('hostgw_route failed: %s' % result.get('msg'))
        for line in p.stderr.splitlines():
            if line.startswith('HOSTGW-BENCH '):
                result['bench_timing'] = json.loads(line[len('HOSTGW-BENCH '):])
        return wall, result


def in_module(laps):
    return laps.get('run', 0.0)


def _record(store, key, wall, result):
    laps = result.get('bench_timing') or {}
    store.setdefault(key, []).append(dict(wall=wall, run=in_module(laps), laps=laps))


def bench_routes(sizes, runs, pythons, loop_cap, baseline_rev=BASELINE_REV, baseline_runs=None):
    """Return the raw measurements: {N: {method: [samples]}} and the variants run.

    Variants: hostgw_route as it is (``batch``) on each interpreter and, unless ``baseline_rev`` is None, with
    the pyroute2 route path of ``baseline_rev`` (``pyroute2``: one route() call per change, pyroute2's dump
    decoder) for ``baseline_runs(N)`` of the runs.
    """
    interps = [dict(path=py, **python_info(py)) for py in pythons]
    variants = [dict(key='batch:%s' % it['pyroute2'], label='hostgw via routes (%s)' % it['pyroute2'], interp=it,
                     collections=None, mode='false') for it in interps]
    variants += [dict(key='nh:%s' % it['pyroute2'], label='hostgw next-hop objects (%s)' % it['pyroute2'], interp=it,
                      collections=None, mode='true') for it in interps]
    with RouteLab() as lab:
        if baseline_rev:
            root = baseline_collections(baseline_rev, lab.tmp)
            variants += [dict(key='pyroute2:%s' % it['pyroute2'], label='before: pyroute2 path (%s)' % it['pyroute2'],
                              interp=it, collections=root, mode='false') for it in interps]
        data = dict(interps=interps, variants=[dict((k, v) for k, v in x.items() if k != 'interp') for x in variants],
                    baseline_rev=baseline_rev, sizes=sizes, runs={}, loop_cap=loop_cap, results={})
        for n in sizes:
            reps = runs(n)
            data['runs'][n] = reps
            store = data['results'].setdefault(str(n), {})
            base = wanted(n)
            churned = wanted(n, churn=1)
            n_churn = sum(1 for i in range(n) if i % 100 < 1)
            cap = min(n, loop_cap)
            for rep in range(reps):
                log('routes N=%d run %d/%d (load %s)' % (n, rep + 1, reps, loadavg()))
                lab.flush()
                store.setdefault('ip_batch', []).append(lab.ip_batch(base))
                assert lab.owned_count() == n
                store.setdefault('ip_show', []).append(lab.ip_show())
                lab.flush()
                store.setdefault('ip_batch_same_gw', []).append(lab.ip_batch(base, same_gw=True))
                lab.flush()
                store.setdefault('ip_batch_nh', []).append(lab.ip_batch_nh(base))
                lab.flush()
                lab.ip_batch(base)
                changed = [r for r, b in zip(churned, base) if r != b]
                store.setdefault('ip_batch_churn', []).append(lab.ip_batch(changed, verb='replace'))
                lab.flush()
                t = lab.ip_loop(base[:cap])
                store.setdefault('ip_loop', []).append(t * n / cap)
                for v in variants:
                    if v['collections'] and rep >= (baseline_runs or runs)(n):
                        continue
                    py, root, key = v['interp']['path'], v['collections'], v['key']
                    mode = dict(nexthop_objects=v['mode'])
                    lab.flush()
                    wall, res = lab.hostgw(py, dict(routes=base, uplink='eth0', **mode), root)
                    assert len(res['added']) == n and lab.owned_count() == n, res.get('msg')
                    _record(store, 'apply:' + key, wall, res)
                    wall, res = lab.hostgw(py, dict(routes=base, uplink='eth0', **mode), root)
                    assert res['changed'] is False and res['unchanged'] == n
                    _record(store, 'noop:' + key, wall, res)
                    wall, res = lab.hostgw(py, dict(routes=churned, uplink='eth0', **mode), root)
                    assert len(res['replaced']) == n_churn and res['unchanged'] == n - n_churn, res
                    _record(store, 'churn:' + key, wall, res)
                    wall, res = lab.hostgw(py, dict(state='absent'), root)
                    assert len(res['removed']) == n and lab.owned_count() == 0
                    _record(store, 'absent:' + key, wall, res)
                    lab.flush()
                    wall, res = lab.hostgw(py, dict(routes=same_gateway(base), uplink='eth0', **mode), root)
                    assert len(res['added']) == n and lab.owned_count() == n
                    _record(store, 'apply1gw:' + key, wall, res)
    return data


def _m(samples, field=None):
    if not samples:
        return None
    if field is None:
        return median(samples)
    return median([s[field] for s in samples])


def report(data):
    """Markdown tables from bench_routes() data."""
    out = []
    variants = data['variants']
    res = data['results']

    def runs_of(r, key):
        return len(r.get('apply:' + key, []))

    out.append('### Apply N new routes (empty table)\n')
    out.append('In-module = the _node.routes call (read + plan + apply), timed by bench/module_timer.py; whole module = process '
               'start to JSON, `ip netns exec` included. Ratios are to `ip -batch` of the same routes in the same run.\n')
    headers = ['N', 'runs', '`ip route replace` loop', '`ip -batch`', '`ip -batch`, one gateway',
               '`ip -batch`, next-hop objects']
    for v in variants:
        headers += ['%s in-module' % v['label'], 'vs `ip -batch`', 'whole module']
    rows = []
    for n in data['sizes']:
        r = res[str(n)]
        batch = _m(r['ip_batch'])
        loop = '%s%s' % (fmt_s(_m(r['ip_loop'])), '' if n <= data['loop_cap'] else ' (extrapolated from %d)' % data['loop_cap'])
        row = ['{:,}'.format(n), data['runs'][n], loop, fmt_s(batch), fmt_s(_m(r['ip_batch_same_gw'])),
               fmt_s(_m(r.get('ip_batch_nh')))]
        for v in variants:
            s = r.get('apply:' + v['key'])
            row += [fmt_s(_m(s, 'run')), fmt_ratio(_m(s, 'run'), batch), fmt_s(_m(s, 'wall'))]
        rows.append(row)
    out.append(table(headers, rows))

    out.append('\n### Re-check (nothing to do), 1% churn, removal of all, N routes via one gateway (in-module)\n')
    headers = ['N', 'variant', 'runs', 'no-op', 'no-op whole module', '1% churn', '1% churn whole module', 'remove all',
               'apply, one gateway']
    rows = []
    for n in data['sizes']:
        r = res[str(n)]
        rows.append(['{:,}'.format(n), '`ip -j route show` / `ip -batch` of the churned routes', data['runs'][n],
                     fmt_s(_m(r['ip_show'])), '', fmt_s(_m(r['ip_batch_churn'])), '', '', fmt_s(_m(r['ip_batch_same_gw']))])
        for v in variants:
            k = v['key']
            rows.append(['{:,}'.format(n), v['label'], runs_of(r, k),
                         fmt_s(_m(r.get('noop:' + k), 'run')), fmt_s(_m(r.get('noop:' + k), 'wall')),
                         fmt_s(_m(r.get('churn:' + k), 'run')), fmt_s(_m(r.get('churn:' + k), 'wall')),
                         fmt_s(_m(r.get('absent:' + k), 'run')), fmt_s(_m(r.get('apply1gw:' + k), 'run'))])
    out.append(table(headers, rows))

    out.append('\n### hostgw_route phases (medians)\n')
    headers = ['N', 'variant', 'case'] + list(PHASES) + ['whole module (wall)']
    rows = []
    for n in data['sizes']:
        r = res[str(n)]
        for v in variants:
            for case in ('apply', 'noop', 'churn', 'absent', 'apply1gw'):
                s = r.get(case + ':' + v['key'])
                if not s:
                    continue
                row = ['{:,}'.format(n), v['label'], case]
                for ph in PHASES:
                    vals = [x['laps'].get(ph) for x in s]
                    row.append(fmt_s(median(vals)) if any(x is not None for x in vals) else '-')
                row.append(fmt_s(_m(s, 'wall')))
                rows.append(row)
    out.append(table(headers, rows))
    return '\n'.join(out) + '\n'
