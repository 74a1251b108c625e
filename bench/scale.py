# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Scale harness: playbooks/site.yml on N hosts that are network namespaces, against Ansible's own floor.

    sudo python bench/scale.py --sizes 10,50,100,200 [--forks 5] [--out bench/results]

Hosts: one segment namespace with a bridge, N host namespaces ``hgws-<pid>-<i>`` whose ``eth0`` (10.180.x.y/16) is
a port of it; no default route, nothing connected to the machine's own namespace. Ansible reaches each host with
the local connection and an interpreter wrapper that enters the host's namespace and a private mount namespace
whose /etc is an overlay and whose /run is a tmpfs: what the role writes lands in this run's directory.

Per N: the floor (six ``ansible.builtin.ping`` tasks per host: as many module tasks as site.yml ran per host in 0.2,
before files and boot restore became one task; the same connection and forks), the first converge
and a re-run (which must report 0 changed), wall time, controller max RSS (the ansible-playbook process and its
forks), and the sizes of one host's lease and hostgw_host fact. With ``--mitogen-sizes``, those sizes are also run
under mitogen's ``mitogen_linear`` strategy (mitogen from PyPI in .cache/, never in the test environment), on the
same hosts after a teardown. Everything is torn down at the end, also on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from common import REPO, collections_root, fmt_s, loadavg, log, machine, sh, table

TASK_TIMES = False   # --task-times

FLOOR = """---
- name: Ansible's floor - six no-op module tasks per host, as many as site.yml runs per host
  hosts: hostgw_nodes
  gather_facts: false
  tasks:
    - {name: ping 1, ansible.builtin.ping: {}}
    - {name: ping 2, ansible.builtin.ping: {}}
    - {name: ping 3, ansible.builtin.ping: {}}
    - {name: ping 4, ansible.builtin.ping: {}}
    - {name: ping 5, ansible.builtin.ping: {}}
    - {name: ping 6, ansible.builtin.ping: {}}
"""


class Lab:
    def __init__(self, n, tmp):
        self.n = n
        self.tmp = tmp
        self.prefix = 'hgws-%d-' % os.getpid()
        self.seg = self.prefix + 'seg'
        self.hosts = ['node%03d' % i for i in range(1, n + 1)]
        self.made = []

    def ip(self, i):
        return '10.180.%d.%d' % (1 + i // 250, 1 + i % 250)

    def __enter__(self):
        sh('ip', 'netns', 'add', self.seg)
        self.made.append(self.seg)
        sh('ip', '-n', self.seg, 'link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0')
        sh('ip', '-n', self.seg, 'link', 'set', 'br0', 'up')
        lines = []
        for i, h in enumerate(self.hosts):
            ns = self.prefix + str(i)
            sh('ip', 'netns', 'add', ns)
            self.made.append(ns)
            sh('ip', '-n', self.seg, 'link', 'add', 'p%d' % i, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
            sh('ip', '-n', self.seg, 'link', 'set', 'p%d' % i, 'master', 'br0', 'up')
            for cmd in (['link', 'set', 'lo', 'up'], ['link', 'set', 'eth0', 'up'],
                        ['addr', 'add', '%s/16' % self.ip(i), 'dev', 'eth0']):
                sh('ip', '-n', ns, *cmd)
            d = os.path.join(self.tmp, h)
            for sub in ('upper', 'work'):
                os.makedirs(os.path.join(d, sub))
            wrapper = os.path.join(d, 'python')
            with open(wrapper, 'w') as f:
                f.write('#!/bin/sh\nexec ip netns exec %s unshare -m /bin/sh -c \'mount --make-rprivate / && '
                        'mount -t overlay overlay -o lowerdir=/etc,upperdir=%s/upper,workdir=%s/work /etc && '
                        'mount -t tmpfs tmpfs /run && exec "$@"\' hostgw-scale %s "$@"\n'
                        % (ns, d, d, sys.executable))
            os.chmod(wrapper, 0o755)
            lines.append('        %s: {ansible_python_interpreter: %s, hostgw_node_ip: %s}' % (h, wrapper, self.ip(i)))
        self.inventory = os.path.join(self.tmp, 'hosts.yml')
        with open(self.inventory, 'w') as f:
            f.write('all:\n  children:\n    hostgw_nodes:\n      vars: {ansible_connection: local, hostgw_network: '
                    '10.64.0.0/10, hostgw_subnet_len: 24, hostgw_persist: true}\n      hosts:\n' + '\n'.join(lines) + '\n')
        return self

    def __exit__(self, *exc):
        for ns in reversed(self.made):
            sh('ip', 'netns', 'del', ns, check=False)


MITOGEN = '0.3.54'    # the release measured (docs/benchmarks.md); --mitogen-version to try another


def ensure_mitogen(version):
    """mitogen from PyPI in .cache/mitogen-<version> (never in the test environment); its strategy plugin directory."""
    target = os.path.join(REPO, '.cache', 'mitogen-%s' % version)
    plugins = os.path.join(target, 'ansible_mitogen', 'plugins', 'strategy')
    if not os.path.isdir(plugins):
        sh(sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps', '--target', target, 'mitogen==%s' % version,
           timeout=600)
    return plugins


def playbook(lab, path, forks, out, extra_env=None, args=()):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_FORKS=str(forks),
               ANSIBLE_HOST_KEY_CHECKING='False', ANSIBLE_NOCOLOR='1', ANSIBLE_RETRY_FILES_ENABLED='0',
               ANSIBLE_HOME=os.path.join(lab.tmp, 'ansible-home'), ANSIBLE_LOCAL_TEMP=os.path.join(lab.tmp, 'ansible-tmp'))
    env.update(extra_env or {})
    if TASK_TIMES:
        # Every task's wall time (bench/callback_plugins/bench_timer.py), to see where site.yml's time goes.
        env.update(ANSIBLE_CALLBACK_PLUGINS=os.path.join(os.path.dirname(os.path.abspath(__file__)), 'callback_plugins'),
                   ANSIBLE_CALLBACKS_ENABLED='bench_timer', HOSTGW_BENCH_TIMER_OUT=out + '.tasks.json')
    usage_file = out + '.rusage'
    # A small parent per run, so the max RSS is this run's (the ansible-playbook process and its forks).
    probe = ('import json, resource, subprocess, sys; p = subprocess.run(sys.argv[2:]); '
             'u = resource.getrusage(resource.RUSAGE_CHILDREN); '
             'json.dump(dict(maxrss=u.ru_maxrss, cpu=u.ru_utime + u.ru_stime), open(sys.argv[1], "w")); '
             'sys.exit(p.returncode)')
    cmd = [sys.executable, '-c', probe, usage_file, os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'),
           '-i', lab.inventory, path] + list(args)
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True, check=False)
    stdout = p.stdout
    wall = time.perf_counter() - t
    with open(usage_file) as f:
        usage = json.load(f)
    with open(out, 'w') as f:
        f.write(stdout)
    if p.returncode != 0:
        failed = [x for x in stdout.splitlines() if x.startswith(('fatal:', 'failed:')) or 'FAILED!' in x]
        raise RuntimeError('%s failed (rc %d), log %s:\n%s\n%s'
                           % (path, p.returncode, out, '\n'.join(failed[:5])[:3000], stdout[-1500:]))
    recap = [x for x in stdout.splitlines() if ' ok=' in x and ' changed=' in x]
    changed = sum(int(x.split('changed=')[1].split()[0]) for x in recap)
    res = dict(wall=wall, changed=changed, hosts=len(recap), cpu=usage['cpu'], maxrss_mib=usage['maxrss'] / 1024.0)
    if TASK_TIMES and os.path.exists(out + '.tasks.json'):
        with open(out + '.tasks.json') as f:
            res['tasks'] = [(t['name'], round(t['seconds'], 2), sum(1 for h in t['hosts'].values() if h['status'] == 'skipped'))
                            for t in json.load(f).get('tasks', [])]
    return res


def run(sizes, forks, out_dir, mitogen_sizes=(), mitogen_version=MITOGEN):
    results = []
    mitogen_env = None
    if mitogen_sizes:
        mitogen_env = dict(ANSIBLE_STRATEGY_PLUGINS=ensure_mitogen(mitogen_version), ANSIBLE_STRATEGY='mitogen_linear')
    for n in sizes:
        tmp = tempfile.mkdtemp(prefix='hostgw-scale-')
        try:
            with Lab(n, tmp) as lab:
                floor = os.path.join(tmp, 'floor.yml')
                with open(floor, 'w') as f:
                    f.write(FLOOR)
                site = os.path.join(REPO, 'playbooks', 'site.yml')
                log('N=%d floor (load %s)' % (n, loadavg()))
                r = dict(n=n, forks=forks, load_start=loadavg())
                r['floor'] = playbook(lab, floor, forks, os.path.join(tmp, 'floor.log'))
                log('N=%d converge' % n)
                r['converge'] = playbook(lab, site, forks, os.path.join(tmp, 'converge.log'))
                log('N=%d re-run' % n)
                r['rerun'] = playbook(lab, site, forks, os.path.join(tmp, 'rerun.log'))
                if r['rerun']['changed'] != 0:
                    raise RuntimeError('re-run at N=%d reported %d changed' % (n, r['rerun']['changed']))
                upper = os.path.join(tmp, lab.hosts[0], 'upper', 'hostgw')
                r['lease_bytes'] = os.path.getsize(os.path.join(upper, 'lease.json'))
                facts = subprocess.run(
                    [os.path.join(os.path.dirname(sys.executable), 'ansible'), '-i', lab.inventory, lab.hosts[0], '-o',
                     '-m', 'hostgw.network.hostgw_facts', '-a', 'networks=10.64.0.0/10 skip_proto=244'],
                    capture_output=True, text=True, check=False,
                    env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root(),
                             ANSIBLE_HOME=os.path.join(tmp, 'ansible-home'), ANSIBLE_LOAD_CALLBACK_PLUGINS='1'))
                doc = json.loads(facts.stdout.split('=>', 1)[1]) if '=>' in facts.stdout else {}
                r['fact_bytes'] = len(json.dumps(doc.get('ansible_facts', {}).get('hostgw_host', {})))
                shown = sh('ip', '-n', lab.prefix + '0', 'route', 'show', 'proto', '244').stdout
                r['routes_per_host'] = len([x for x in shown.splitlines() if x.strip()])
                if n in mitogen_sizes:
                    # Side by side on the same hosts: the floor, then (after a teardown) a first converge and a
                    # re-run, under mitogen's strategy.
                    m = dict(version=mitogen_version)
                    r['mitogen'] = m
                    try:
                        log('N=%d mitogen floor' % n)
                        m['floor'] = playbook(lab, floor, forks, os.path.join(tmp, 'm-floor.log'), mitogen_env)
                        playbook(lab, site, forks, os.path.join(tmp, 'teardown.log'), args=('-e', 'hostgw_state=absent'))
                        log('N=%d mitogen converge' % n)
                        # The hosts are root already: Ansible's own strategy skips become to the same user, mitogen
                        # would exec sudo (not installed here), so it runs without become.
                        m['converge'] = playbook(lab, site, forks, os.path.join(tmp, 'm-converge.log'), mitogen_env,
                                                 args=('-e', 'ansible_become=false'))
                        m['rerun'] = playbook(lab, site, forks, os.path.join(tmp, 'm-rerun.log'), mitogen_env,
                                              args=('-e', 'ansible_become=false'))
                        if m['rerun']['changed'] != 0:
                            raise RuntimeError('mitogen re-run at N=%d reported %d changed' % (n, m['rerun']['changed']))
                    except RuntimeError as e:     # recorded, not fatal: the default strategy's figures still count
                        m['error'] = str(e)[-4000:]
                        log('N=%d mitogen failed: %s' % (n, str(e)[-1500:]))
                r['load_end'] = loadavg()
                results.append(r)
                log('N=%d: floor %.1fs converge %.1fs rerun %.1fs' % (n, r['floor']['wall'], r['converge']['wall'],
                                                                      r['rerun']['wall']))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        md = report(results, out_dir)   # after every size: an interrupted run keeps what it measured
    return md


def report(results, out_dir):
    data = dict(machine=machine(), results=results)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, 'scale.json'), 'w') as f:
        json.dump(data, f, indent=2)
    rows = []
    for r in results:
        n = r['n']
        rows.append(['{:,}'.format(n), r['forks'], fmt_s(r['floor']['wall']), fmt_s(r['converge']['wall']),
                     fmt_s(r['rerun']['wall']), '%.2fx' % (r['converge']['wall'] / r['floor']['wall']),
                     '%.2fx' % (r['rerun']['wall'] / r['floor']['wall']),
                     '%.2f s' % (r['converge']['wall'] / n), '%.2f s' % (r['rerun']['wall'] / n),
                     '%.0f' % r['converge']['maxrss_mib'], r['routes_per_host'], r['lease_bytes'], r['fact_bytes'],
                     '%s / %s' % (r['load_start'], r['load_end'])])
    md = table(['N', 'forks', 'floor (6 x ping)', 'converge', 're-run', 'converge / floor', 're-run / floor',
                'converge per host', 're-run per host', 'controller max RSS MiB', 'routes per host', 'lease bytes',
                'hostgw_host bytes', 'load start / end'], rows)
    mrows = []
    for r in results:
        m = r.get('mitogen')
        if not m:
            continue
        if 'error' in m or 'rerun' not in m:
            mrows.append(['{:,}'.format(r['n']), m['version'], fmt_s(r['floor']['wall']),
                          fmt_s(m['floor']['wall']) if 'floor' in m else '-', fmt_s(r['converge']['wall']),
                          'failed', fmt_s(r['rerun']['wall']), '-', '-', '-'])
            continue
        mrows.append(['{:,}'.format(r['n']), m['version'], fmt_s(r['floor']['wall']), fmt_s(m['floor']['wall']),
                      fmt_s(r['converge']['wall']), fmt_s(m['converge']['wall']), fmt_s(r['rerun']['wall']),
                      fmt_s(m['rerun']['wall']), '%.2fx' % (m['converge']['wall'] / m['floor']['wall']),
                      '%.2fx' % (m['rerun']['wall'] / m['floor']['wall'])])
    if mrows:
        md += '\n\nSide by side under mitogen (`mitogen_linear`), same hosts and forks:\n\n' + table(
            ['N', 'mitogen', 'floor: linear', 'floor: mitogen', 'converge: linear', 'converge: mitogen', 're-run: linear',
             're-run: mitogen', 'mitogen converge / its floor', 'mitogen re-run / its floor'], mrows)
    with open(os.path.join(out_dir, 'scale.md'), 'w') as f:
        f.write(md)
    plot(results, os.path.join(out_dir, 'scale.png'))
    return md


def plot(results, path):
    try:
        import matplotlib  # pylint: disable=import-outside-toplevel
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    except ImportError:
        log('matplotlib not installed: no plot (pip install matplotlib)')
        return
    ns = [r['n'] for r in results]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (('floor', 'floor (6 x ping)'), ('converge', 'site.yml converge'), ('rerun', 'site.yml re-run')):
        a.plot(ns, [r[key]['wall'] / r['n'] for r in results], marker='o', label=label)
    a.set_xlabel('hosts')
    a.set_ylabel('seconds per host')
    a.set_ylim(bottom=0)
    a.legend()
    a.set_title('Per-host cost')
    for key, label in (('converge', 'converge / floor'), ('rerun', 're-run / floor')):
        b.plot(ns, [r[key]['wall'] / r['floor']['wall'] for r in results], marker='o', label=label)
    b.axhline(1.3, color='grey', linestyle='--', label='target 1.3x')
    b.set_xlabel('hosts')
    b.set_ylabel('ratio to the floor')
    b.set_ylim(bottom=0)
    b.legend()
    b.set_title('site.yml vs Ansible\'s floor')
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    p.add_argument('--sizes', default='10,50,100,200')
    p.add_argument('--forks', type=int, default=5)
    p.add_argument('--task-times', action='store_true', help="record every task's wall time (in scale.json)")
    p.add_argument('--mitogen-sizes', default='', help='sizes also run under mitogen_linear, side by side (such as 50)')
    p.add_argument('--mitogen-version', default=MITOGEN)
    p.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results'))
    args = p.parse_args()
    global TASK_TIMES  # pylint: disable=global-statement
    TASK_TIMES = args.task_times
    if os.geteuid() != 0:
        sys.exit('bench/scale.py needs root: it creates network namespaces')
    print(run([int(x) for x in args.sizes.split(',')], args.forks, args.out,
              [int(x) for x in args.mitogen_sizes.split(',') if x.strip()], args.mitogen_version))


if __name__ == '__main__':
    main()
