# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared helpers of the benchmarks: commands, timing, medians, machine description, Markdown tables."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def sh(*cmd, check=True, timeout=600, env=None, stdin=None):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, check=False,
                       env=env, input=stdin)
    if check and p.returncode != 0:
        raise RuntimeError('command failed (%d): %s\n%s%s'
                           % (p.returncode, ' '.join(str(c) for c in cmd), p.stdout[-2000:], p.stderr[-2000:]))
    return p


def timed(*cmd, **kw):
    """Run a command; return (seconds, CompletedProcess)."""
    t = time.perf_counter()
    p = sh(*cmd, **kw)
    return time.perf_counter() - t, p


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def collections_root():
    """A collections root whose ansible_collections/hostgw/network is this checkout (like tests/kernel)."""
    root = os.path.join(tempfile.gettempdir(), 'hostgw-bench-collections-%d' % os.getuid())
    link = os.path.join(root, 'ansible_collections', 'hostgw', 'network')
    if os.path.realpath(link) != os.path.realpath(REPO):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(REPO, link)
    return root


def import_collection():
    """Make ``ansible_collections.hostgw.network`` importable in this process."""
    root = collections_root()
    if root not in sys.path:
        sys.path.insert(0, root)


def python_info(python):
    code = ('import importlib.metadata as m, json, sys\n'
            'def v(p):\n'
            '    try:\n        return m.version(p)\n'
            '    except Exception:\n        return None\n'
            'print(json.dumps(dict(python=sys.version.split()[0], pyroute2=v("pyroute2"), ansible_core=v("ansible-core"))))')
    p = sh(python, '-c', code)
    return json.loads(p.stdout)


def machine():
    mem = None
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemTotal:'):
                mem = '%.1f GiB' % (int(line.split()[1]) / 1024.0 / 1024.0)
    cpu = None
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    with open('/proc/loadavg') as f:
        load = ' '.join(f.read().split()[:3])
    ip = sh('ip', '-V', check=False).stdout.strip()
    return dict(nproc=os.cpu_count(), cpu=cpu, memory=mem, kernel=platform.release(), python=sys.version.split()[0],
                iproute2=ip, loadavg_at_start=load, date=time.strftime('%Y-%m-%d %H:%M:%S %Z'))


def loadavg():
    with open('/proc/loadavg') as f:
        return ' '.join(f.read().split()[:3])


def fmt_s(value):
    if value is None:
        return '-'
    if value >= 10:
        return '%.1f s' % value
    if value >= 1:
        return '%.2f s' % value
    if value >= 0.01:
        return '%.3f s' % value
    return '%.1f ms' % (value * 1000)


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return '-'
    r = a / b
    return '%.1fx' % r if r >= 0.95 else '%.2fx' % r


def table(headers, rows):
    out = ['| ' + ' | '.join(headers) + ' |', '|' + '|'.join('---' for dummy in headers) + '|']
    for row in rows:
        out.append('| ' + ' | '.join(str(c) for c in row) + ' |')
    return '\n'.join(out)


def log(msg):
    sys.stderr.write('[bench %s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stderr.flush()
