# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The podman container-host lab shared by tests/role and tests/reliability, and the helpers the tests use.

One pytest session creates the lab once (``molecule/shared/create.yml``), every test reuses it, and the session
destroys it at the end, also after failures (``molecule/shared/destroy.yml``). Between tests hosts are reset
cheaply with ``podman exec`` (never recreated).

Lab (its names and subnets are this suite's own, so it can run next to the other labs of the repo):

* network ``hostgw-rel`` 10.171.0.0/24: ``hostgw-rel-1`` .. ``hostgw-rel-4`` (10.171.0.11 .. .14)
* network ``hostgw-rel-b`` 10.172.0.0/24: ``hostgw-rel-5`` (10.172.0.15) only, a host on another L2 segment

Every host carries *foreign* state planted before any hostgw run and re-planted by every reset: a static route
via a peer (on hostgw-rel-1/2/4 via hostgw-rel-3), a route in table 100 with an ``ip rule`` to it, a bridge
``br-foreign`` with an address, nat POSTROUTING and FORWARD rules (IPv4 and IPv6), ``/etc/cni/net.d/99-foreign.conf``
and ``/etc/sysctl.d/50-foreign.conf``. hostgw must never touch any of it.

Environment: run after ``source scripts/env.sh`` (venv, collection path). ``HOSTGW_LAB_KEEP=1`` keeps the lab
after the session (for debugging; the next session replaces it).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..'))
CALLBACK_DIR = os.path.join(HERE, 'callback_plugins')

NET_A = {'name': 'hostgw-rel', 'subnet': '10.171.0.0/24'}
NET_B = {'name': 'hostgw-rel-b', 'subnet': '10.172.0.0/24'}
#: host -> (network, node IP)
HOSTS = {
    'hostgw-rel-1': ('hostgw-rel', '10.171.0.11'),
    'hostgw-rel-2': ('hostgw-rel', '10.171.0.12'),
    'hostgw-rel-3': ('hostgw-rel', '10.171.0.13'),
    'hostgw-rel-4': ('hostgw-rel', '10.171.0.14'),
    'hostgw-rel-5': ('hostgw-rel-b', '10.172.0.15'),
}
H1, H2, H3, H4, H5 = sorted(HOSTS)
MESH3 = [H1, H2, H3]
ALL = sorted(HOSTS)
IP = dict((h, v[1]) for h, v in HOSTS.items())

CLUSTER = '10.244.0.0/16'
PROTO = 244
STATE_FILES = ('/etc/hostgw', '/etc/cni/net.d/10-hostgw.conflist', '/etc/sysctl.d/90-hostgw.conf')

# --- foreign state (planted on every host, hostgw must leave it alone) ---------------------------------------
FOREIGN_ROUTE = '172.31.9.0/24'          # main table, proto static, via a peer
FOREIGN_TABLE_ROUTE = '172.29.0.0/24'    # table 100, proto static
FOREIGN_RULE_PRIO = 1000                 # ip rule from 172.30.0.0/24 lookup 100
FOREIGN_BRIDGE = 'br-foreign'
FOREIGN_BRIDGE_ADDR = '172.30.0.1/24'
FOREIGN_CNI = '/etc/cni/net.d/99-foreign.conf'
FOREIGN_SYSCTL = '/etc/sysctl.d/50-foreign.conf'
FOREIGN_IPT4 = [
    ('nat', '-A POSTROUTING -s 172.30.0.0/24 ! -d 172.30.0.0/24 -j MASQUERADE'),
    ('filter', '-A FORWARD -i br-foreign -j ACCEPT'),
]
FOREIGN_IPT6 = [
    ('nat', '-A POSTROUTING -s fd00:99::/64 -j MASQUERADE'),
    ('filter', '-A FORWARD -s fd00:99::/64 -j ACCEPT'),
]


def foreign_via(host):
    """The next hop of the planted foreign routes: hostgw-rel-3 (the peer the churn tests remove) or a neighbour."""
    if host == H5:
        return '10.172.0.99'
    return IP[H1] if host == H3 else IP[H3]


# --- scripts run inside the hosts (fixed text; values are test constants passed as JSON, never inventory) ------

_SNAPSHOT_PY = r'''
import hashlib, json, os, re, stat, subprocess, sys
def out(*argv):
    return subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False).stdout
def js(*argv):
    return json.loads(out(*argv) or '[]')
def tables(cmd):
    lines = []
    for line in out(cmd).splitlines():
        if line.startswith('#'):
            continue
        lines.append(re.sub(r'\[\d+:\d+\]$', '[0:0]', line))
    return lines
files = {}
for top in ('/etc/hostgw', '/etc/cni/net.d', '/etc/sysctl.d', '/etc/systemd/system/hostgw-restore.service'):
    for root, dirs, names in (os.walk(top) if os.path.isdir(top) else [(os.path.dirname(top), [], [os.path.basename(top)])]):
        dirs.sort()
        if os.path.isdir(top):
            st = os.lstat(root)
            files[root] = {'type': 'dir', 'mode': '%04o' % stat.S_IMODE(st.st_mode), 'uid': st.st_uid, 'gid': st.st_gid}
        for name in sorted(names):
            path = os.path.join(root, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            entry = {'mode': '%04o' % stat.S_IMODE(st.st_mode), 'uid': st.st_uid, 'gid': st.st_gid}
            if stat.S_ISLNK(st.st_mode):
                entry.update(type='link', target=os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                with open(path, 'rb') as f:
                    entry.update(type='file', sha256=hashlib.sha256(f.read()).hexdigest())
            else:
                entry.update(type='other')
            files[path] = entry
def links():
    out = js('ip', '-j', '-d', 'link', 'show')
    for l in out:
        for key in ('linkinfo',):
            for sub in ('info_data', 'info_slave_data'):
                data = (l.get(key) or {}).get(sub)
                if isinstance(data, dict):
                    for k in [k for k in data if k.endswith('_timer')]:
                        del data[k]      # bridge timers tick: like counters, not state
    return out
print(json.dumps({
    'routes4': js('ip', '-4', '-j', 'route', 'show', 'table', 'all'),
    'routes6': js('ip', '-6', '-j', 'route', 'show', 'table', 'all'),
    'rules4': js('ip', '-4', '-j', 'rule', 'show'),
    'rules6': js('ip', '-6', '-j', 'rule', 'show'),
    'links': links(),
    'addrs': js('ip', '-j', 'addr', 'show'),
    'iptables': tables('iptables-save'),
    'ip6tables': tables('ip6tables-save'),
    'nft': dict((v, [x.strip() for x in out('nft', 'list', 'table', fam, 'hostgw').splitlines() if x.strip()])
                for v, fam in (('4', 'ip'), ('6', 'ip6'))),
    'files': files,
    'pwned': os.path.exists('/tmp/pwned'),
}, sort_keys=True))
'''

# Reset a host to its clean state and (re)plant the foreign state, idempotently: what still exists unchanged is
# left alone (so its ifindex and MAC stay), everything hostgw or a test added is removed.
_RESET_PY = r'''
import json, os, shutil, subprocess, sys, time
cfg = json.loads(sys.stdin.read())
def run(*argv, **kw):
    return subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, **kw, check=False)
def must(*argv):
    p = run(*argv)
    if p.returncode != 0:
        sys.exit('%s: %s' % (' '.join(argv), p.stderr.strip()))
# pods (network namespaces) and host-local IPAM state
for line in run('ip', 'netns', 'list').stdout.splitlines():
    if line.split():
        run('ip', 'netns', 'delete', line.split()[0])
shutil.rmtree('/var/lib/cni', ignore_errors=True)
# links: keep lo, the uplinks and an intact foreign bridge
links = json.loads(run('ip', '-j', '-d', 'link', 'show').stdout or '[]')
for l in links:
    name, kind = l['ifname'], (l.get('linkinfo') or {}).get('info_kind')
    if name in ('lo', 'eth0', 'eth1'):
        continue
    if name == 'br-foreign' and kind == 'bridge':
        continue
    run('ip', 'link', 'delete', name)
# routes: everything hostgw (proto 244) or a test added in the main table; table 100 is re-planted.
# Next-hop objects first (deleting one deletes the routes that use it).
run('ip', 'nexthop', 'flush')
for fam in ('-4', '-6'):
    for proto in ('244', 'static', 'boot'):
        run('ip', fam, 'route', 'flush', 'table', 'main', 'proto', proto)
run('ip', '-4', 'route', 'flush', 'table', '100')
for r in json.loads(run('ip', '-4', '-j', 'rule', 'show').stdout or '[]'):
    if r.get('priority') not in (0, 32766, 32767):
        run('ip', '-4', 'rule', 'delete', 'priority', str(r['priority']))
# packet filter: flush and delete every chain of nat and filter, then re-plant the foreign rules
for cmd in ('iptables', 'ip6tables'):
    for table in ('nat', 'filter', 'mangle', 'raw'):
        run(cmd, '-w', '-t', table, '-F')
        run(cmd, '-w', '-t', table, '-X')
for fam in ('ip', 'ip6'):
    run('nft', 'delete', 'table', fam, 'hostgw')
# files
for path in ('/etc/hostgw', '/etc/cni/net.d', '/etc/systemd/system/hostgw-restore.service', '/tmp/pwned'):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)
for name in os.listdir('/etc/sysctl.d'):
    if name != 'README.sysctl':
        os.unlink(os.path.join('/etc/sysctl.d', name))
for path in ('/root/.ansible', '/tmp/.ansible-hostgw-rel'):
    shutil.rmtree(path, ignore_errors=True)
# foreign state
if cfg['plant']:
    if not os.path.exists('/sys/class/net/br-foreign'):
        must('ip', 'link', 'add', 'br-foreign', 'type', 'bridge')
        must('ip', 'addr', 'add', cfg['bridge_addr'], 'dev', 'br-foreign')
        must('ip', 'link', 'set', 'br-foreign', 'up')
        for _ in range(50):    # let IPv6 DAD settle, so snapshots taken later see the same flags
            if not run('ip', '-6', 'addr', 'show', 'dev', 'br-foreign', 'tentative').stdout.strip():
                break
            time.sleep(0.1)
    must('ip', 'route', 'replace', cfg['route'], 'via', cfg['via'], 'dev', 'eth0', 'proto', 'static')
    must('ip', 'route', 'replace', cfg['table_route'], 'via', cfg['via'], 'dev', 'eth0', 'proto', 'static', 'table', '100')
    must('ip', 'rule', 'add', 'from', '172.30.0.0/24', 'lookup', '100', 'priority', str(cfg['rule_prio']))
    for cmd, rules in (('iptables', cfg['ipt4']), ('ip6tables', cfg['ipt6'])):
        for table, rule in rules:
            must(cmd, '-w', '-t', table, *rule.split())
    os.makedirs('/etc/cni/net.d', mode=0o755)
    for path, text in cfg['files'].items():
        with open(path, 'w') as f:
            f.write(text)
        os.chmod(path, 0o644)
'''

FOREIGN_FILES = {
    FOREIGN_CNI: json.dumps({'cniVersion': '0.4.0', 'name': 'foreign', 'type': 'bridge', 'bridge': 'br-foreign',
                             'ipam': {'type': 'host-local', 'subnet': '172.30.0.0/24'}}, indent=2) + '\n',
    FOREIGN_SYSCTL: '# not hostgw\nnet.ipv4.conf.all.rp_filter = 2\n',
}


class LabError(Exception):
    pass


def _env():
    env = dict(os.environ)
    if not env.get('ANSIBLE_COLLECTIONS_PATH'):
        raise LabError('ANSIBLE_COLLECTIONS_PATH is not set: run `source scripts/env.sh` first')
    env.pop('ANSIBLE_FORCE_COLOR', None)
    env.update(
        ANSIBLE_NOCOLOR='1',
        NO_COLOR='1',
        ANSIBLE_RETRY_FILES_ENABLED='False',
        # An absolute remote tmp skips the `echo ~` round trip: one podman exec less per task and host.
        ANSIBLE_REMOTE_TMP='/tmp/.ansible-hostgw-rel',
        ANSIBLE_CALLBACK_PLUGINS=CALLBACK_DIR,
        ANSIBLE_CALLBACKS_ENABLED='hostgw_events',
        ANSIBLE_DEPRECATION_WARNINGS='False',
        ANSIBLE_PYTHON_INTERPRETER='auto_silent',
    )
    return env


def _ansible_playbook():
    venv = os.path.join(REPO, '.venv', 'bin', 'ansible-playbook')
    return venv if os.path.exists(venv) else (shutil.which('ansible-playbook') or 'ansible-playbook')


# --- results ---------------------------------------------------------------------------------------------------

class Result:
    """One ansible-playbook run. Unpacks as ``rc, stdout, recap``; ``events`` holds every task result."""

    def __init__(self, rc, stdout, recap, events, argv, seconds):
        self.rc = rc
        self.stdout = stdout
        self.recap = recap
        self.events = events
        self.argv = argv
        self.seconds = seconds

    def __iter__(self):
        return iter((self.rc, self.stdout, self.recap))

    def __repr__(self):
        return '<Result rc=%s %.0fs recap=%s>' % (self.rc, self.seconds, self.recap)

    def results(self, task=None, host=None, status=None):
        out = []
        for e in self.events:
            if e.get('event') != 'result':
                continue
            if task is not None and task not in (e.get('task') or ''):
                continue
            if host is not None and e.get('host') != host:
                continue
            if status is not None and e.get('status') != status:
                continue
            out.append(e)
        return out

    def failures(self):
        """[(host, task, msg)] of every failed or unreachable result."""
        return [(e['host'], e['task'], e['result'].get('msg', '')) for e in self.events
                if e.get('event') == 'result' and e.get('status') in ('failed', 'unreachable')]

    def failure_text(self):
        return '\n'.join('%s | %s | %s' % f for f in self.failures())

    def changed(self, host):
        return (self.recap.get(host) or {}).get('changed')

    def tail(self, n=60):
        return '\n'.join(self.stdout.splitlines()[-n:])

    def report(self):
        """For assertion messages: the failures (host | task | msg), then the recap."""
        return 'rc=%s\n%s\n%s' % (self.rc, self.failure_text(), self.tail(8))


def run_playbook(inventory, playbook, *args, timeout=600, background=False):
    """Run ``ansible-playbook -i inventory playbook args...`` from the repo root.

    Returns a ``Result`` (``rc, stdout, recap = run_playbook(...)`` works); with ``background=True`` a
    ``Running`` handle whose ``wait()`` returns the ``Result``.
    """
    if not os.path.isabs(playbook):
        playbook = os.path.join(REPO, playbook)
    fd, events_path = tempfile.mkstemp(prefix='hostgw-events-', suffix='.jsonl')
    os.close(fd)
    env = _env()
    env['HOSTGW_EVENTS_FILE'] = events_path
    argv = [_ansible_playbook(), '-i', str(inventory), playbook] + [str(a) for a in args]
    start = time.time()
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True)
    running = Running(proc, argv, events_path, start, timeout)
    return running if background else running.wait()


class Running:
    def __init__(self, proc, argv, events_path, start, timeout):
        self.proc = proc
        self.argv = argv
        self.events_path = events_path
        self.start = start
        self.timeout = timeout
        self.lines = []

    def wait_for_output(self, pattern, timeout=300):
        """Read output until a line matches ``pattern``; return the line (None at EOF)."""
        deadline = time.time() + timeout
        rx = re.compile(pattern)
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                return None
            self.lines.append(line)
            if rx.search(line):
                return line
        raise LabError('no output line matched %r within %ss' % (pattern, timeout))

    def wait(self):
        try:
            rest, _err = self.proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rest, _err = self.proc.communicate()
        stdout = ''.join(self.lines) + (rest or '')
        events = []
        try:
            with open(self.events_path) as f:
                events = [json.loads(line) for line in f if line.strip()]
        finally:
            os.unlink(self.events_path)
        recap = {}
        for e in events:
            if e.get('event') == 'stats':
                recap = e['recap']
        return Result(self.proc.returncode, stdout, recap, events, self.argv, time.time() - self.start)


# --- inventories -----------------------------------------------------------------------------------------------

def inventory(path, hosts, group_vars=None, host_vars=None, extra_groups=None, all_vars=None):
    """Write a YAML inventory (hosts reached through podman) and return its path.

    ``hosts``: mesh members (group hostgw_nodes); each gets ``hostgw_node_ip`` from the lab unless
    ``host_vars`` gives its own. ``extra_groups``: {group: [hosts]} of other hosts (not in the mesh).
    """
    host_vars = host_vars or {}
    members = {}
    for h in hosts:
        hv = {'hostgw_node_ip': IP[h]} if h in IP else {}
        hv.update(host_vars.get(h) or {})
        members[h] = hv
    conn = {'ansible_connection': 'containers.podman.podman', 'ansible_python_interpreter': '/usr/bin/python3',
            'ansible_become': False}
    conn.update(all_vars or {})
    data = {'all': {'vars': conn, 'children': {'hostgw_nodes': {'hosts': members, 'vars': dict(group_vars or {})}}}}
    for group, names in (extra_groups or {}).items():
        data['all']['children'][group] = {'hosts': dict((n, dict(host_vars.get(n) or {})) for n in names)}
    path = str(path)
    if os.path.isdir(path):
        path = os.path.join(path, 'hosts.yml')
    with open(path, 'w') as f:
        yaml.safe_dump(data, f, default_flow_style=False, sort_keys=True)
    return path


# --- snapshots -------------------------------------------------------------------------------------------------

def diff(a, b, path='', out=None, limit=40):
    """Readable differences between two snapshots (or parts of them)."""
    if out is None:
        out = []
    if len(out) >= limit:
        return out
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a:
                out.append('%s/%s: added %s' % (path, k, json.dumps(b[k], sort_keys=True)[:300]))
            elif k not in b:
                out.append('%s/%s: removed %s' % (path, k, json.dumps(a[k], sort_keys=True)[:300]))
            else:
                diff(a[k], b[k], '%s/%s' % (path, k), out, limit)
    elif isinstance(a, list) and isinstance(b, list):
        if a != b:
            ja = [json.dumps(x, sort_keys=True) for x in a]
            jb = [json.dumps(x, sort_keys=True) for x in b]
            for x in ja:
                if x not in jb:
                    out.append('%s: removed %s' % (path, x[:300]))
            for x in jb:
                if x not in ja:
                    out.append('%s: added %s' % (path, x[:300]))
            if sorted(ja) == sorted(jb):
                out.append('%s: order changed' % path)
    elif a != b:
        out.append('%s: %r -> %r' % (path, a, b))
    return out[:limit]


def _normalized(snap):
    """A snapshot without what a recreated foreign bridge or a restarted container changes (ifindex, MAC, link-local)."""
    s = json.loads(json.dumps(snap))
    for lk in s['links']:
        for k in ('ifindex', 'link_index', 'address', 'broadcast', 'link_netnsid', 'operstate', 'flags', 'permaddr'):
            lk.pop(k, None)
    for a in s['addrs']:
        for k in ('ifindex', 'link_index', 'address', 'broadcast', 'link_netnsid', 'operstate', 'flags'):
            a.pop(k, None)
        a['addr_info'] = [i for i in a.get('addr_info', []) if i.get('scope') != 'link']
    s['routes6'] = [r for r in s['routes6'] if not str(r.get('dst', '')).startswith('fe80')]
    return s


class Lab:
    def __init__(self):
        self.baseline = {}      # host -> normalized snapshot right after the first plant
        self.clean = {}         # host -> raw snapshot after the last reset
        self.state = 'unknown'  # 'clean' | 'converged' | 'unknown'
        self.states = {}        # state name -> {host: raw snapshot} recorded by mark()
        self.workdir = tempfile.mkdtemp(prefix='hostgw-rel-lab-')
        self.created = False

    # -- podman -------------------------------------------------------------------------------------------------
    @staticmethod
    def podman(*args, check=True, input=None, timeout=120):
        p = subprocess.run(['podman'] + list(args), input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=timeout, check=False)
        if check and p.returncode != 0:
            raise LabError('podman %s failed (%d): %s %s' % (' '.join(args)[:200], p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
        return p

    def exec(self, host, *argv, check=True, input=None):
        """Run argv inside ``host`` (no shell)."""
        return self.podman('exec', '-i', host, *argv, check=check, input=input)

    def sh(self, host, script, check=True):
        """Run a fixed shell script of the test inside ``host``."""
        return self.exec(host, 'sh', '-c', script, check=check)

    def py(self, host, code, data=None, check=True):
        return self.exec(host, 'python3', '-c', code, input=json.dumps(data) if data is not None else None, check=check)

    def running(self, host):
        p = self.podman('inspect', '--format', '{{.State.Running}}', host, check=False)
        return p.returncode == 0 and p.stdout.strip() == 'true'

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def _vars_file(self):
        path = os.path.join(self.workdir, 'lab-vars.json')
        with open(path, 'w') as f:
            json.dump({'lab_networks': [NET_A, NET_B],
                       'lab_hosts': [{'name': h, 'networks': [{'name': n, 'ip': ip}]} for h, (n, ip) in sorted(HOSTS.items())]},
                      f)
        return path

    def _lab_playbook(self, name):
        p = subprocess.run([_ansible_playbook(), '-i', 'localhost,', os.path.join(REPO, 'molecule', 'shared', name),
                            '-e', '@' + self._vars_file()], cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, timeout=600, check=False)
        return p

    def create(self):
        p = self._lab_playbook('create.yml')
        self.created = True   # even a half-made lab is destroyed
        if p.returncode != 0:
            raise LabError('creating the lab failed:\n' + '\n'.join(p.stdout.splitlines()[-30:]))
        for h in ALL:
            # create.yml already asserted no default route; the suite relies on that too.
            r = self.sh(h, 'ip -4 route show default; ip -6 route show default').stdout.strip()
            if r:
                raise LabError('SAFETY: %s has a default route: %s' % (h, r))
        self.reset(ALL, first=True)

    def destroy(self):
        if not self.created or os.environ.get('HOSTGW_LAB_KEEP'):
            return
        p = self._lab_playbook('destroy.yml')
        if p.returncode != 0:
            raise LabError('destroying the lab failed:\n' + '\n'.join(p.stdout.splitlines()[-30:]))
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- state ----------------------------------------------------------------------------------------------------
    def snapshot(self, host):
        """Kernel and file state of ``host`` (routes/rules of all tables, links, addresses, iptables/ip6tables without
        counters, and mode/owner/sha256 of everything under /etc/hostgw, /etc/cni/net.d, /etc/sysctl.d)."""
        p = self.exec(host, 'python3', '-c', _SNAPSHOT_PY)
        return json.loads(p.stdout)

    def snapshot_all(self, hosts=None):
        hosts = list(hosts or ALL)
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(hosts)) as pool:
            return dict(zip(hosts, pool.map(self.snapshot, hosts)))

    def reset(self, hosts=None, first=False):
        """Remove everything hostgw (or a test) left, re-plant the foreign state; check against the baseline."""
        hosts = list(hosts or ALL)

        def one(h):
            cfg = dict(plant=True, bridge_addr=FOREIGN_BRIDGE_ADDR, route=FOREIGN_ROUTE, table_route=FOREIGN_TABLE_ROUTE,
                       via=foreign_via(h), rule_prio=FOREIGN_RULE_PRIO, ipt4=FOREIGN_IPT4, ipt6=FOREIGN_IPT6,
                       files=FOREIGN_FILES)
            self.py(h, _RESET_PY, cfg)
            return self.snapshot(h)

        with concurrent.futures.ThreadPoolExecutor(max_workers=len(hosts)) as pool:
            snaps = dict(zip(hosts, pool.map(one, hosts)))
        for h, snap in snaps.items():
            norm = _normalized(snap)
            if first or h not in self.baseline:
                self.baseline[h] = norm
            elif norm != self.baseline[h]:
                raise LabError('reset of %s did not give the baseline back:\n  %s'
                               % (h, '\n  '.join(diff(self.baseline[h], norm))))
            self.clean[h] = snap
        self.state = 'clean' if set(hosts) >= set(ALL) else 'unknown'
        return snaps

    def is_clean(self):
        if self.state != 'clean':
            return False
        return self.snapshot_all() == self.clean

    def ensure_clean(self):
        if not self.is_clean():
            self.reset()

    def mark(self, state, snaps=None):
        """Record that the lab is in the named state (snapshots of every host, taken now unless given)."""
        self.state = state
        self.states[state] = snaps if snaps is not None else self.snapshot_all()

    def forget(self):
        self.state = 'unknown'

    def ensure(self, state, build):
        """Bring the lab into the named state: reuse it when every host is still snapshot-equal to what
        ``mark(state)`` recorded, else ``build()`` it (which must end with ``mark(state)``)."""
        if self.state == state and self.snapshot_all() == self.states.get(state):
            return self
        self.forget()
        build()
        assert self.state == state, 'building state %s did not mark it' % state
        return self


# --- assertions and readers over snapshots -------------------------------------------------------------------

def assert_same(before, after, what='state'):
    """Byte-for-byte equality of snapshots (dicts host -> snapshot), with a readable report."""
    problems = []
    for h in sorted(set(before) | set(after)):
        d = diff(before.get(h), after.get(h))
        if d:
            problems.append('%s changed:\n    %s' % (h, '\n    '.join(d)))
    assert not problems, '%s is not as before:\n  %s' % (what, '\n  '.join(problems))


def owned_routes(snap, family=4):
    """{dst: gateway} of the routes with hostgw's protocol (any table)."""
    out = {}
    for r in snap['routes%d' % family]:
        if str(r.get('protocol')) == str(PROTO):
            out[r['dst']] = (r.get('gateway'), r.get('dev'), r.get('table', 'main'))
    return out


def link(snap, name):
    for lk in snap['links']:
        if lk['ifname'] == name:
            return lk
    return None


def addrs_of(snap, name, family='inet'):
    for a in snap['addrs']:
        if a['ifname'] == name:
            return sorted('%s/%s' % (i['local'], i['prefixlen']) for i in a.get('addr_info', [])
                          if i.get('family') == family and i.get('scope') != 'link')
    return None


def hostgw_rules(snap, family=4):
    """hostgw's iptables chains/jumps and its nft table (``table ip hostgw`` / ``ip6 hostgw``) of one family."""
    key = 'iptables' if family == 4 else 'ip6tables'
    return [x for x in snap[key] if 'HOSTGW' in x or 'hostgw' in x] + snap['nft'][str(family)]


def file_text(lab, host, path):
    p = lab.exec(host, 'cat', path, check=False)
    return p.stdout if p.returncode == 0 else None


def lease(lab, host):
    text = file_text(lab, host, '/etc/hostgw/lease.json')
    return json.loads(text) if text else None


def subnet_index(dst):
    """10.244.3.0/24 -> 3."""
    return int(dst.split('.')[2])


def expected_subnets(names, first=1):
    """The planner's choice for new hosts on a clean mesh: the lowest free /24 from 10.244.1.0, by host name."""
    return dict((h, '10.244.%d.0/24' % (i + first)) for i, h in enumerate(sorted(names)))


def yaml_load(text):
    return yaml.safe_load(text)


def gateway_cidr(subnet):
    """'10.244.2.0/24' -> '10.244.2.1/24'."""
    net, plen = subnet.split('/')
    a, b, c, _d = net.split('.')
    return '%s.%s.%s.1/%s' % (a, b, c, plen)


def mesh_problems(snaps, subnets, hosts=None, bridge='cni0', dev='eth0'):
    """What is wrong with a converged mesh: each host of ``hosts`` (default: the members of ``subnets``) must have
    exactly one hostgw route per peer (``subnets`` is {member: subnet}) via the peer's node IP on the uplink, and the
    bridge with exactly its own gateway address, marked as hostgw's."""
    problems = []
    for h in sorted(hosts or subnets):
        s = snaps[h]
        want = dict((subnets[p], (IP[p], dev, 'main')) for p in subnets if p != h)
        got = owned_routes(s)
        if got != want:
            problems.append('%s: hostgw routes %s, want %s' % (h, sorted(got.items()), sorted(want.items())))
        br = link(s, bridge)
        if br is None:
            problems.append('%s: no %s' % (h, bridge))
            continue
        if (br.get('linkinfo') or {}).get('info_kind') != 'bridge' or br.get('ifalias') != 'hostgw: managed bridge':
            problems.append('%s: %s is not hostgw\'s bridge: kind %s alias %r' % (
                h, bridge, (br.get('linkinfo') or {}).get('info_kind'), br.get('ifalias')))
        if h in subnets and addrs_of(s, bridge) != [gateway_cidr(subnets[h])]:
            problems.append('%s: %s addresses %s, want [%s]' % (h, bridge, addrs_of(s, bridge), gateway_cidr(subnets[h])))
    return problems


def trace_problems(snap):
    """Anything of hostgw left on a host (for teardown)."""
    problems = []
    for fam in (4, 6):
        if owned_routes(snap, fam):
            problems.append('proto %d routes (IPv%d): %s' % (PROTO, fam, sorted(owned_routes(snap, fam))))
    if link(snap, 'cni0') is not None:
        problems.append('cni0 still exists')
    for fam in (4, 6):
        if hostgw_rules(snap, fam):
            problems.append('IPv%d hostgw chains/jumps: %s' % (fam, hostgw_rules(snap, fam)))
    for path in snap['files']:
        if path.startswith('/etc/hostgw') or path in STATE_FILES or path.endswith('hostgw-restore.service'):
            problems.append('file %s still exists' % path)
    return problems


def _sha(text):
    import hashlib
    return hashlib.sha256(text.encode()).hexdigest()


def foreign_problems(snap, host):
    """The planted foreign state, each piece checked (it must survive every hostgw run)."""
    problems = []
    via = foreign_via(host)
    main = [r for r in snap['routes4'] if r.get('dst') == FOREIGN_ROUTE and r.get('table', 'main') == 'main']
    if [(r.get('gateway'), r.get('dev'), r.get('protocol')) for r in main] != [(via, 'eth0', 'static')]:
        problems.append('foreign route %s via %s proto static: %s' % (FOREIGN_ROUTE, via, main))
    t100 = [r for r in snap['routes4'] if r.get('dst') == FOREIGN_TABLE_ROUTE]
    if [(r.get('gateway'), r.get('table'), r.get('protocol')) for r in t100] != [(via, '100', 'static')]:
        problems.append('foreign route %s table 100: %s' % (FOREIGN_TABLE_ROUTE, t100))
    rules = [r for r in snap['rules4'] if r.get('priority') == FOREIGN_RULE_PRIO]
    if [(r.get('src'), r.get('srclen'), r.get('table')) for r in rules] != [('172.30.0.0', 24, '100')]:
        problems.append('foreign ip rule %d: %s' % (FOREIGN_RULE_PRIO, rules))
    br = link(snap, FOREIGN_BRIDGE)
    if br is None or (br.get('linkinfo') or {}).get('info_kind') != 'bridge':
        problems.append('foreign bridge %s: %s' % (FOREIGN_BRIDGE, br))
    elif addrs_of(snap, FOREIGN_BRIDGE) != [FOREIGN_BRIDGE_ADDR]:
        problems.append('foreign bridge address: %s' % addrs_of(snap, FOREIGN_BRIDGE))
    for key, rules_ in (('iptables', FOREIGN_IPT4), ('ip6tables', FOREIGN_IPT6)):
        for table, rule in rules_:
            if rule not in snap[key]:
                problems.append('foreign %s rule missing (%s): %s' % (key, table, rule))
    for path, text in FOREIGN_FILES.items():
        f = snap['files'].get(path)
        if not f or f.get('sha256') != _sha(text) or f.get('mode') != '0644':
            problems.append('foreign file %s: %s' % (path, f))
    return problems


def masq_lines(subnet, network=CLUSTER):
    """hostgw's rules (IPv4) for a node, in order: Flannel's --ip-masq, scoped to the cluster network, in the nft table
    ``ip hostgw`` (the lab's bookworm image has iptables-nft and nft: firewall=auto picks nftables), as ``nft list
    table`` prints them, without indentation."""
    return [
        'table ip hostgw {',
        'chain postrouting {',
        'type nat hook postrouting priority srcnat; policy accept;',
        'meta mark & 0x00004000 == 0x00004000 return',
        'ip saddr %s ip daddr %s return' % (subnet, network),
        'ip saddr %s ip daddr %s return' % (network, subnet),
        'ip saddr != %s ip daddr %s return' % (network, subnet),
        'ip saddr %s ip daddr != 224.0.0.0/4 masquerade fully-random' % network,
        'ip saddr != %s ip daddr %s masquerade fully-random' % (network, network),
        '}',
        'chain forward {',
        'type filter hook forward priority filter; policy accept;',
        'ip saddr %s accept' % network,
        'ip daddr %s accept' % network,
        '}',
        '}',
    ]


#: Actions of the role that change a host; a run rejected up front must not have run any of them.
CHANGING_ACTIONS = ('hostgw_firewall', 'hostgw_masq', 'cni_bridge', 'hostgw_route', 'hostgw_files', 'hostgw_restore', 'package', 'systemd_service',
                    'file', 'template', 'copy')


def changing_tasks_run(result):
    """[(host, task, status)] of host-changing tasks that ran (not skipped) in ``result``."""
    out = []
    for e in result.results():
        action = (e.get('action') or '').rsplit('.', 1)[-1]
        if action in CHANGING_ACTIONS and e.get('status') != 'skipped':
            out.append((e.get('host'), e.get('task'), e.get('status')))
    return out


def run_adhoc(inventory, pattern, module, args, *extra, keep_remote_files=False, timeout=300):
    """``ansible -i inventory pattern -m module -a args`` (JSON args); returns (rc, stdout)."""
    env = _env()
    if keep_remote_files:
        env['ANSIBLE_KEEP_REMOTE_FILES'] = '1'
    ansible = os.path.join(os.path.dirname(_ansible_playbook()), 'ansible')
    p = subprocess.run([ansible, '-i', str(inventory), pattern, '-m', module, '-a', json.dumps(args)] + list(extra),
                       cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                       timeout=timeout, check=False)
    return p.returncode, p.stdout
