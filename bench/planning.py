# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Planning N hosts in a real ``ansible-playbook`` run, side by side with Ansible reading one variable per host.

    python bench/planning.py                        # N = 1,000 and 10,000, settled and new
    python bench/planning.py --sizes 10000 --runs 3

No host is contacted. The inventory holds N hosts with ``hostgw_node_ip``; their facts (what ``hostgw_facts``
returns: ``hostgw_lease`` and ``hostgw_host``) come from a ``jsonfile`` fact cache written beforehand, as a real
run would have them after its facts task. One play, ``gather_facts: false``, two run-once tasks, timed by the
callback ``bench/callback_plugins/bench_timer.py`` (task start to the next task's start, so Ansible's handling of
the result, for every host of the play, is included):

``baseline``  ``set_fact`` with ``run_once``: ``{{ groups['hostgw_nodes'] | map('extract', hostvars, 'hostgw_node_ip')
              | list }}``: the floor any run-once task that looks at every host pays.
``plan``      ``hostgw.network.hostgw_subnet`` exactly as the role calls it (``facts: false``, registered).

Cases: ``settled`` (every host holds the ring lease a first plan wrote: the usual re-run) and ``new`` (every
host's lease is known and empty: a first deployment). Also recorded: the size of the registered result (compact
JSON bytes per host, and with ``json.dumps``' default spacing) and the controller's max RSS (``wait4``), for a play with both tasks, with the baseline only and
with the plan only, so the plan's own memory shows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# pylint: disable=wrong-import-position
from common import HERE, collections_root, fmt_ratio, fmt_s, log, median, table  # noqa: E402
from controller import name, node_ip, host_facts, settled  # noqa: E402

BASELINE = "{{ groups['hostgw_nodes'] | map('extract', hostvars, 'hostgw_node_ip') | list }}"

PLAY = '''---
- name: Planning bench
  hosts: hostgw_nodes
  gather_facts: false
  tasks:
%s
'''
TASK_BASELINE = '''    - name: baseline
      ansible.builtin.set_fact:
        bench_ips: "%s"
      run_once: true
''' % BASELINE
TASK_PLAN = '''    - name: plan
      hostgw.network.hostgw_subnet:
        network: 10.0.0.0/8
        subnet_len: 24
        group: hostgw_nodes
        facts: false
      register: bench_planned
      run_once: true
'''
TASK_SIZE = '''    - name: size
      ansible.builtin.copy:
        content: "{{ bench_planned | to_json }}"
        dest: "%s"
        mode: "0600"
      run_once: true
      delegate_to: localhost
'''


FILL_CACHE = '''
import json, sys
from ansible.plugins.loader import cache_loader, init_plugin_loader
init_plugin_loader()
cache = cache_loader.get('ansible.builtin.jsonfile')
with open(sys.argv[1]) as f:
    for host, facts in json.load(f).items():
        cache.set(host, facts)
'''


def ansible_python():
    """The ansible-playbook on PATH and the Python it runs with (its shebang): Ansible's modules are imported there."""
    playbook = shutil.which('ansible-playbook')
    if not playbook:
        raise SystemExit('ansible-playbook is not on PATH (source scripts/env.sh)')
    with open(playbook) as f:
        first = f.readline()
    return playbook, first[2:].strip().split()[0] if first.startswith('#!') else sys.executable


def write_lab(root, n, case):
    """Inventory and a jsonfile fact cache for N hosts."""
    inv = os.path.join(root, 'hosts.ini')
    with open(inv, 'w') as f:
        f.write('[hostgw_nodes]\n')
        for i in range(n):
            f.write('%s hostgw_node_ip=%s\n' % (name(i), node_ip(i)))
        f.write('[all:vars]\nansible_connection=local\nansible_python_interpreter=%s\n' % ansible_python()[1])
    cache = os.path.join(root, 'facts')
    os.makedirs(cache)
    raw = settled(n) if case == 'settled' else None
    facts = {}
    for i in range(n):
        h = name(i)
        facts[h] = raw[h]['ansible_facts'] if raw is not None else {'hostgw_lease': {}, 'hostgw_host': host_facts(node_ip(i))}
    src = os.path.join(root, 'facts.json')
    with open(src, 'w') as f:
        json.dump(facts, f)
    # Written through Ansible's own jsonfile plugin (its file names and format change between releases).
    env = dict(os.environ, ANSIBLE_CACHE_PLUGIN='jsonfile', ANSIBLE_CACHE_PLUGIN_CONNECTION=cache)
    subprocess.run([ansible_python()[1], '-c', FILL_CACHE, src], env=env, check=True)
    return inv, cache


def run_play(root, inv, cache, tasks, tag):
    path = os.path.join(root, 'play-%s.yml' % tag)
    with open(path, 'w') as f:
        f.write(PLAY % ''.join(tasks))
    out = os.path.join(root, 'timer-%s.json' % tag)
    env = dict(os.environ, ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, 'callback_plugins'),
               ANSIBLE_CALLBACKS_ENABLED='bench_timer', HOSTGW_BENCH_TIMER_OUT=out, ANSIBLE_NOCOLOR='1',
               ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_CACHE_PLUGIN='jsonfile',
               ANSIBLE_CACHE_PLUGIN_CONNECTION=cache, ANSIBLE_CACHE_PLUGIN_TIMEOUT='0', ANSIBLE_GATHERING='explicit',
               ANSIBLE_HOST_KEY_CHECKING='False', ANSIBLE_RETRY_FILES_ENABLED='False')
    cmd = [ansible_python()[0], '-i', inv, path]
    with open(os.path.join(root, 'log-%s.txt' % tag), 'w') as logf:
        proc = subprocess.Popen(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT)  # pylint: disable=consider-using-with
        _pid, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        with open(os.path.join(root, 'log-%s.txt' % tag)) as f:
            raise RuntimeError('ansible-playbook failed:\n' + f.read()[-3000:])
    with open(out) as f:
        timer = json.load(f)
    return dict((t['name'], t['seconds']) for t in timer['tasks']), usage.ru_maxrss / 1024.0


def bench(n, case, runs):
    root = tempfile.mkdtemp(prefix='hostgw-planning-')
    try:
        inv, cache = write_lab(root, n, case)
        size_file = os.path.join(root, 'result.json')
        base, plan = [], []
        for _i in range(runs):
            times, rss_both = run_play(root, inv, cache, [TASK_BASELINE, TASK_PLAN], 'both')
            base.append(times['baseline'])
            plan.append(times['plan'])
        _t, rss_base = run_play(root, inv, cache, [TASK_BASELINE], 'baseline')
        _t, rss_plan = run_play(root, inv, cache, [TASK_PLAN, TASK_SIZE % size_file], 'plan')
        with open(size_file) as f:
            result = json.load(f)
        size = len(json.dumps(result, separators=(',', ':')))
        spaced = len(json.dumps(result))
        assert len(result['plan']['hosts']) == n, 'the plan does not cover the %d hosts' % n
        row = dict(hosts=n, case=case, runs=runs, baseline_s=median(base), plan_s=median(plan),
                   baseline_samples=base, plan_samples=plan, result_bytes=size, result_bytes_per_host=size / float(n),
                   result_bytes_spaced_per_host=spaced / float(n),
                   facts_in_result='ansible_facts' in result, max_rss_both_mib=rss_both, max_rss_baseline_mib=rss_base,
                   max_rss_plan_mib=rss_plan)
        return row
    finally:
        shutil.rmtree(root, ignore_errors=True)


def report(rows):
    out = [table(['hosts', 'case', 'baseline (set_fact, one variable per host)', 'hostgw_subnet', 'ratio',
                  'result per host', 'max RSS: baseline only', 'plan only', 'both'],
                 [['{:,}'.format(r['hosts']), r['case'], fmt_s(r['baseline_s']), fmt_s(r['plan_s']),
                   fmt_ratio(r['plan_s'], r['baseline_s']), '%.0f B' % r['result_bytes_per_host'],
                   '%.0f MiB' % r['max_rss_baseline_mib'], '%.0f MiB' % r['max_rss_plan_mib'],
                   '%.0f MiB' % r['max_rss_both_mib']] for r in rows])]
    return '\n'.join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    p.add_argument('--sizes', type=int, nargs='+', default=[1000, 10000])
    p.add_argument('--cases', nargs='+', default=['settled', 'new'], choices=['settled', 'new'])
    p.add_argument('--runs', type=int, default=3, help='runs of the side-by-side play per case (median)')
    p.add_argument('--json', default=None, help='write the figures here too')
    args = p.parse_args(argv)
    rows = []
    for n in args.sizes:
        for case in args.cases:
            log('planning bench: %d hosts, %s' % (n, case))
            row = bench(n, case, args.runs)
            rows.append(row)
            print(json.dumps(row, sort_keys=True), flush=True)
    print()
    print(report(rows))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == '__main__':
    main()
