# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""hostgw benchmarks: one command, everything side by side in one run (see docs/benchmarks.md).

    source scripts/env.sh
    python bench/run.py               # routes (N = 100, 1,000, 10,000) and planning: a few minutes
    python bench/run.py --quick       # N = 100 and 1,000, fewer runs: about a minute
    python bench/run.py --playbook    # also site.yml vs naive.yml on 3, 6 and 12 podman container hosts (slow)
    python bench/run.py --only playbook --playbook-sizes 12

Needs root (network namespaces, podman). Writes the tables to stdout and to bench/results/latest.md, the
raw samples to bench/results/<date>.json (bench/results/ is not packaged).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# pylint: disable=wrong-import-position
from common import HERE, REPO, fmt_ratio, fmt_s, loadavg, log, machine, median, sh, table  # noqa: E402


def _ints(text):
    return [int(x) for x in text.split(',') if x.strip()]


def parse_args(argv):
    p = argparse.ArgumentParser(description='hostgw benchmarks (docs/benchmarks.md)')
    p.add_argument('--quick', action='store_true', help='N = 100 and 1,000 routes, 3 runs; planning up to 10,000 hosts')
    p.add_argument('--playbook', action='store_true', help='also the playbook benchmark on podman container hosts (slow)')
    p.add_argument('--only', default=None, help='comma-separated parts to run: route, plan, planning, playbook, scale')
    p.add_argument('--scale', action='store_true', help='also the scale harness (bench/scale.py) on network-namespace hosts (slow)')
    p.add_argument('--scale-sizes', default='10,50,100,200', help='host counts for the scale harness (default 10,50,100,200)')
    p.add_argument('--mitogen-sizes', default='50', help='scale sizes also run under mitogen, side by side (default 50)')
    p.add_argument('--planning-sizes', default=None, help='host counts for planning in ansible-playbook (default 1000,10000)')
    p.add_argument('--runs', type=int, default=None, help='runs per measurement (default 5; 3 at 10,000 routes)')
    p.add_argument('--route-sizes', default=None, help='route counts (default 100,1000,10000)')
    p.add_argument('--plan-sizes', default=None, help='host counts for plan_mesh (default 1000,10000,65000)')
    p.add_argument('--playbook-sizes', default='3,6,12', help='container host counts (default 3,6,12)')
    p.add_argument('--forks', type=int, default=None, help='Ansible forks for the playbooks (default: one per host)')
    p.add_argument('--loop-cap', type=int, default=200, help='routes the per-route `ip route` loop really runs (default 200)')
    p.add_argument('--pythons', default=None,
                   help='interpreters that run hostgw_route, colon-separated (default .venv and .venv-deb)')
    p.add_argument('--no-baseline', action='store_true', help='skip the pyroute2 route path of before (bench.route.BASELINE_REV)')
    p.add_argument('--out', default=os.path.join(HERE, 'results'), help='directory for latest.md and the JSON samples')
    return p.parse_args(argv)


def targets(data):
    """Each target of the issue: (target, measured, met)."""
    out = []
    for r in data.get('planning') or []:
        if r['hosts'] >= 10000:
            out.append(('planning %s hosts (%s) within 1x of reading one variable per host' % ('{:,}'.format(r['hosts']), r['case']),
                        '%.2f s against %.2f s (%.2fx)' % (r['plan_s'], r['baseline_s'], r['plan_s'] / r['baseline_s']),
                        r['plan_s'] <= r['baseline_s']))
            out.append(('plan result at most 120 B a host (%s)' % r['case'], '%.0f B' % r['result_bytes_per_host'],
                        r['result_bytes_per_host'] <= 120))
    route = data.get('route')
    if route:
        res = route['results']
        for v in route['variants']:
            if v['collections']:
                continue
            k = v['key']
            tag = k.split(':', 1)[1]
            r1 = res.get('1000')
            if r1:
                ratio = median([s['run'] for s in r1['apply:' + k]]) / median(r1['ip_batch'])
                out.append(('apply 1,000 routes in-module within 3x of `ip -batch` (pyroute2 %s)' % tag,
                            '%s vs %s: %s' % (fmt_s(median([s['run'] for s in r1['apply:' + k]])), fmt_s(median(r1['ip_batch'])),
                                              fmt_ratio(median([s['run'] for s in r1['apply:' + k]]), median(r1['ip_batch']))),
                            ratio <= 3))
                noop = median([s['run'] for s in r1['noop:' + k]])
                out.append(('no-op re-check of 1,000 routes in-module under 0.2 s (pyroute2 %s)' % tag, fmt_s(noop), noop < 0.2))
            r10 = res.get('10000')
            if r1 and r10:
                parts = []
                ok = True
                for case in ('noop', 'churn', 'apply1gw', 'apply'):
                    t1k = median([s['run'] for s in r1[case + ':' + k]])
                    t10k = median([s['run'] for s in r10[case + ':' + k]])
                    parts.append('%s %s' % (case, fmt_ratio(t10k, t1k)))
                    if case != 'apply':
                        ok = ok and t10k / t1k <= 13
                kb = median(r10['ip_batch']) / median(r1['ip_batch'])
                a10 = median([s['run'] for s in r10['apply:' + k]]) / median(r10['ip_batch'])
                out.append(('10,000 routes scale linearly, 1,000 -> 10,000 (pyroute2 %s)' % tag,
                            'time x10 routes: %s; `ip -batch` itself %s, hostgw apply at 10,000 = %s `ip -batch`'
                            % (', '.join(parts), fmt_ratio(kb, 1), fmt_ratio(a10, 1)),
                            'hostgw\'s work: yes; applying 10,000 routes with distinct next hops: no, kernel-bound '
                            '(as `ip -batch`)' if ok else False))
    plan = data.get('plan')
    if plan:
        res = plan['results']
        if '10000' in res:
            t = max(median(res['10000']['plan_new']), median(res['10000']['plan_settled']))
            if 'action_settled' in res['10000']:
                t = max([t] + [median([x['total'] for x in res['10000'][c]])
                               for c in ('action_new', 'action_settled', 'action_lost1')])
            out.append(('planning 10,000 hosts under 1 s (plan_mesh; action run() at worst)', fmt_s(t), t < 1))
        if '65000' in res:
            t = max(median(res['65000']['plan_new']), median(res['65000']['plan_settled']))
            out.append(('planning 65,000 hosts (/8 in /24s) under 5 s', fmt_s(t), t < 5))
    pb = data.get('playbook')
    if pb and '12' in pb['results']:
        r = pb['results']['12']
        n1, s1 = r['naive_1']['routes_step'], r['site_1']['routes_step']
        n2, s2 = r['naive_2']['routes_step'], r['site_2']['routes_step']
        out.append(('playbook routes step >= 10x faster than naive.yml at 12 hosts',
                    '%s vs %s: %s (re-run %s)' % (fmt_s(n1), fmt_s(s1), fmt_ratio(n1, s1), fmt_ratio(n2, s2)),
                    n1 / s1 >= 10))
        out.append(('site.yml re-run: 0 changed (12 hosts)', '%d changed' % r['site_2']['changed'], r['site_2']['changed'] == 0))
    return out


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if os.geteuid() != 0:
        sys.exit('bench/run.py needs root: it creates network namespaces (and podman containers with --playbook)')
    default_parts = ['route', 'plan', 'planning'] + (['playbook'] if args.playbook else []) + (['scale'] if args.scale else [])
    parts = set(args.only.split(',')) if args.only else set(default_parts)
    unknown = parts - {'route', 'plan', 'planning', 'playbook', 'scale'}
    if unknown:
        sys.exit('unknown part(s): %s' % ', '.join(sorted(unknown)))
    if parts & {'playbook', 'planning', 'scale'} and not os.environ.get('ANSIBLE_COLLECTIONS_PATH'):
        sys.exit('the playbook, planning and scale parts need the environment of scripts/env.sh: source scripts/env.sh first')
    venv = os.environ.get('VENV') or os.path.join(REPO, '.venv')
    venv_deb = os.environ.get('VENV_DEB') or os.path.join(REPO, '.venv-deb')
    default_pythons = (os.path.join(venv, 'bin', 'python'), os.path.join(venv_deb, 'bin', 'python'))
    pythons = args.pythons.split(':') if args.pythons else [p for p in default_pythons if os.path.exists(p)]
    quick = args.quick
    route_sizes = _ints(args.route_sizes) if args.route_sizes else ([100, 1000] if quick else [100, 1000, 10000])
    plan_sizes = _ints(args.plan_sizes) if args.plan_sizes else ([1000, 10000] if quick else [1000, 10000, 65000])

    def runs(n):
        if args.runs:
            return args.runs
        if quick:
            return 3
        return 3 if n >= 10000 else 5

    def baseline_runs(n):
        return 1 if n >= 10000 else runs(n)

    started = time.time()
    head = sh('git', '-C', REPO, 'rev-parse', '--short', 'HEAD', check=False).stdout.strip()
    dirty = sh('git', '-C', REPO, 'status', '--porcelain', '--untracked-files=no', check=False).stdout.strip()
    data = dict(machine=machine(), commit=head + (' (+ uncommitted changes)' if dirty else ''), argv=sys.argv[1:])
    log('machine: %s' % json.dumps(data['machine']))
    if 'route' in parts:
        import route  # pylint: disable=import-outside-toplevel
        data['route'] = route.bench_routes(route_sizes, runs, pythons, args.loop_cap,
                                           None if args.no_baseline else route.BASELINE_REV, baseline_runs)
    if 'plan' in parts:
        import plan  # pylint: disable=import-outside-toplevel
        data['plan'] = plan.bench_plan(plan_sizes, runs, [n for n in plan_sizes if n == 10000])
    if 'planning' in parts:
        import planning  # pylint: disable=import-outside-toplevel
        data['planning'] = [planning.bench(n, case, 1 if quick else 3)
                            for n in (_ints(args.planning_sizes) if args.planning_sizes else [1000, 10000])
                            for case in ('settled', 'new')]
    if 'playbook' in parts:
        import playbook  # pylint: disable=import-outside-toplevel
        data['playbook'] = playbook.bench_playbooks(_ints(args.playbook_sizes), args.forks)
    if 'scale' in parts:
        import scale  # pylint: disable=import-outside-toplevel
        data['scale'] = scale.run(_ints(args.scale_sizes), args.forks or 5, args.out, _ints(args.mitogen_sizes))
    data['seconds'] = time.time() - started
    data['loadavg_at_end'] = loadavg()

    m = data['machine']
    lines = ['# hostgw benchmark run %s' % m['date'], '',
             'Commit %s; `python bench/run.py %s`; %d CPUs (%s), %s RAM, kernel %s, Python %s, %s; load average %s at '
             'start, %s at end; %.0f s.' % (data['commit'], ' '.join(data['argv']), m['nproc'], m['cpu'], m['memory'],
                                            m['kernel'], m['python'], m['iproute2'], m['loadavg_at_start'],
                                            data['loadavg_at_end'], data['seconds']), '']
    if 'route' in data:
        import route  # pylint: disable=import-outside-toplevel
        lines.append('hostgw_route interpreters: %s.' % ', '.join('%s (Python %s, pyroute2 %s, ansible-core %s)' % (
            it['path'], it['python'], it['pyroute2'], it['ansible_core']) for it in data['route']['interps']))
        lines.append('')
        lines.append('## Routes on one host (network namespace)\n')
        lines.append(route.report(data['route']))
    if 'plan' in data:
        import plan  # pylint: disable=import-outside-toplevel
        lines.append('## Planning on the controller\n')
        lines.append(plan.report(data['plan']))
    if 'planning' in data:
        import planning  # pylint: disable=import-outside-toplevel
        lines.append('## Planning in ansible-playbook, side by side with Ansible reading one variable per host\n')
        lines.append(planning.report(data['planning']))
        lines.append('')
    if 'scale' in data:
        lines.append('## Scale harness (network-namespace hosts)\n')
        lines.append(str(data['scale']))
        lines.append('')
    if 'playbook' in data:
        import playbook  # pylint: disable=import-outside-toplevel
        lines.append('## Playbooks on container hosts\n')
        lines.append(playbook.report(data['playbook']))
    tg = targets(data)
    if tg:
        lines.append('## Targets\n')
        lines.append(table(['target', 'measured (medians)', 'met'],
                           [[t, v, ok if isinstance(ok, str) else 'yes' if ok else '**no**'] for t, v, ok in tg]))
    text = '\n'.join(lines) + '\n'
    sys.stdout.write(text)
    os.makedirs(args.out, exist_ok=True)
    stamp = time.strftime('%Y%m%d-%H%M%S')
    with open(os.path.join(args.out, '%s.json' % stamp), 'w') as f:
        json.dump(data, f, indent=1, default=str)
    with open(os.path.join(args.out, 'latest.md'), 'w') as f:
        f.write(text)
    log('results: %s/latest.md and %s.json' % (args.out, stamp))
    return 0


if __name__ == '__main__':
    sys.exit(main())
