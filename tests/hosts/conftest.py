# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for tests on the real-host labs (systemd as PID 1, SSH), made by a molecule/ssh-* scenario
that was created and converged and left standing (scripts/test-hosts.sh does that).

    HOSTGW_HOSTS_LAB=hostgw-ssh12 HOSTGW_HOSTS_SCENARIO=ssh-bookworm pytest tests/hosts

Kernel state is read with `podman exec` (root, independent of the SSH path under test); Ansible runs
over SSH as the unprivileged user with sudo, through the scenario's own Molecule inventory.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PROTO = '244'
#: NM_DEVICE_STATE_REASON_UNMANAGED_USER_SETTINGS: unmanaged by "unmanaged-devices" of a keyfile (hostgw's drop-in).
NM_REASON_USER = '76'


def run(argv, check=True, timeout=180, **kw):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout,
                          check=False, **kw)
    if check and proc.returncode != 0:
        raise AssertionError('%s failed (rc %d): %s %s' % (argv, proc.returncode, proc.stdout, proc.stderr))
    return proc


class Host:
    def __init__(self, name, ip, ssh_dir=None):
        self.name = name
        self.ip = ip
        self.ssh_dir = ssh_dir

    def ssh_ok(self):
        """SSH from this machine as hostgw with sudo, the way Ansible connects (strict host keys, no mux)."""
        d = self.ssh_dir
        return run(['ssh', '-F', '/dev/null', '-i', os.path.join(d, 'id_ed25519'), '-o', 'IdentitiesOnly=yes',
                    '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes',
                    '-o', 'UserKnownHostsFile=' + os.path.join(d, 'known_hosts'), '-o', 'ConnectTimeout=3',
                    'hostgw@' + self.ip, 'sudo', '-n', 'true'], check=False, timeout=30).returncode == 0

    def __repr__(self):
        return self.name

    def sh(self, *argv, check=True, timeout=120):
        """Run argv on the host as root (podman exec); returns the CompletedProcess."""
        return run(['podman', 'exec', self.name] + list(argv), check=check, timeout=timeout)

    def out(self, *argv, **kw):
        return self.sh(*argv, **kw).stdout.strip()

    def jsn(self, *argv, empty='[]'):
        return json.loads(self.out(*argv) or empty)

    def boot_mark(self):
        """When PID 1 (systemd) of the running boot started, on the machine's CLOCK_MONOTONIC.
        (The kernel's boot_id is the machine's, the same in every container and across podman restarts;
        so is the journal's boot id: select journal lines by time, not with -b.)"""
        return int(self.out('systemctl', 'show', '-p', 'UserspaceTimestampMonotonic', '--value'))

    def sandbox(self):
        return run(['podman', 'inspect', '--format', '{{.NetworkSettings.SandboxKey}}', self.name]).stdout.strip()

    def wait_booted(self, timeout=120):
        """Until systemd says running or degraded (right after a start, systemctl cannot reach PID 1 yet)."""
        deadline = time.monotonic() + timeout
        state = ''
        while time.monotonic() < deadline:
            state = self.sh('timeout', '60', 'systemctl', 'is-system-running', '--wait',
                            check=False, timeout=70).stdout.strip()
            if state in ('running', 'degraded', 'maintenance', 'stopping'):
                break
            time.sleep(0.5)
        assert state in ('running', 'degraded'), '%s: systemd says %r after boot' % (self, state)
        return state

    def reboot(self):
        """podman restart: systemd shuts down, the container starts again with a new network namespace and
        systemd boots again. Returns (boot mark before, boot mark after, wall time just before the restart)."""
        before, netns = self.boot_mark(), self.sandbox()
        since = int(self.out('date', '+%s'))
        run(['podman', 'restart', '--time', '10', self.name], timeout=120)
        self.wait_booted()
        if self.ssh_dir:
            assert wait_for(self.ssh_ok, timeout=60), '%s: no SSH from this machine within 60 s of the boot' % self
        after = self.boot_mark()
        assert after > before, '%s: systemd did not start again (UserspaceTimestampMonotonic %d -> %d)' % (
            self, before, after)
        assert self.sandbox() != netns, '%s: same network namespace after podman restart' % self
        return before, after, since

    def journal(self, unit, since):
        return self.out('journalctl', '--no-pager', '-o', 'cat', '--since', '@%d' % since, '-u', unit)

    def show(self, unit, *props):
        out = self.out('systemctl', 'show', '-p', ','.join(props), unit)
        return dict(line.split('=', 1) for line in out.splitlines() if '=' in line)

    # ---- the node's networking state, read back from the kernel
    def owned_routes(self):
        return sorted((r['dst'], r.get('gateway'), r.get('dev'))
                      for r in self.jsn('ip', '-json', 'route', 'show', 'proto', PROTO))

    def routes_to(self, dst):
        return [r for r in self.jsn('ip', '-json', 'route', 'show', 'table', 'all') if r.get('dst') == dst]

    def bridge_addrs(self, bridge='cni0'):
        links = self.jsn('ip', '-json', 'addr', 'show', 'dev', bridge) if self.sh(
            'ip', 'link', 'show', 'dev', bridge, check=False).returncode == 0 else []
        return sorted('%s/%s' % (a['local'], a['prefixlen']) for link in links for a in link.get('addr_info', [])
                      if a.get('family') == 'inet' or (a.get('family') == 'inet6' and a.get('scope') == 'global'))

    def sysctl(self, path):
        return self.out('cat', '/proc/sys/' + path)

    def has(self, command):
        return self.sh('sh', '-c', 'command -v %s' % command, check=False).returncode == 0

    def nm_state(self, dev):
        """(state, reason) of ``dev`` as NetworkManager sees it, e.g. ('10 (unmanaged)', '76 (...)')."""
        out = self.out('nmcli', '-t', '-f', 'GENERAL.STATE,GENERAL.REASON', 'device', 'show', dev)
        fields = dict(line.split(':', 1) for line in out.splitlines() if ':' in line)
        return fields.get('GENERAL.STATE', ''), fields.get('GENERAL.REASON', '')

    def firewall(self):
        """hostgw's firewall state, counters stripped: iptables lines naming HOSTGW where iptables exists,
        and every nftables table whose name contains hostgw."""
        lines = []
        if self.has('iptables-save'):
            for cmd in ('iptables-save', 'ip6tables-save'):
                for line in self.out(cmd).splitlines():
                    if 'hostgw' in line.lower():
                        lines.append(re.sub(r'\[\d+:\d+\]', '', line))
        tables = self.jsn('nft', '-j', 'list', 'tables', empty='{}') if self.has('nft') else {}
        for t in tables.get('nftables', []):
            table = t.get('table')
            if table and 'hostgw' in table['name'].lower():
                body = self.out('nft', 'list', 'table', table['family'], table['name'])
                lines += [re.sub(r'counter packets \d+ bytes \d+', 'counter', x) for x in body.splitlines()]
        return lines

    def state(self):
        return {
            'routes': self.owned_routes(),
            'bridge': self.bridge_addrs(),
            'ip_forward': self.sysctl('net/ipv4/ip_forward'),
            'firewall': self.firewall(),
        }

    # ---- pods, through the conflist hostgw wrote and the real CNI plugins (molecule/shared/files/cni_pod.py)
    def pod_add(self, *names):
        return json.loads(self.out('python3', '/usr/local/bin/cni_pod.py', 'add', *names))

    def ensure_pod(self, name):
        """The pod's IPv4 address; made through the CNI plugins unless its namespace exists."""
        if name in self.out('ip', 'netns', 'list').split():
            return self.pod_ip(name)
        return self.pod_add(name)[name]['ip4']

    def pod_ip(self, name):
        links = self.jsn('ip', '-n', name, '-json', 'addr', 'show', 'dev', 'eth0')
        return [a['local'] for link in links for a in link['addr_info'] if a['family'] == 'inet'][0]

    def pod_ping(self, name, *addrs):
        return json.loads(self.out('python3', '/usr/local/bin/cni_pod.py', 'ping', name, *addrs))


@pytest.fixture(scope='session')
def lab():
    name = os.environ.get('HOSTGW_HOSTS_LAB')
    if not name:
        pytest.skip('HOSTGW_HOSTS_LAB is not set: run through scripts/test-hosts.sh (needs a converged molecule/ssh-* lab)')
    ssh_dir = os.path.join(REPO, '.cache', 'ssh', name)
    with open(os.path.join(ssh_dir, 'hosts.yml')) as f:
        hosts = yaml.safe_load(f)['all']['hosts']
    with open(os.path.join(ssh_dir, 'molecule_inventory')) as f:
        inventory = f.read().strip()
    # The scenario's groups (molecule.yml platforms): the nodes are hostgw_nodes; a router is only a router.
    scenario = os.environ.get('HOSTGW_HOSTS_SCENARIO', '')
    groups = {}
    molecule_yml = os.path.join(REPO, 'molecule', scenario, 'molecule.yml')
    if scenario and os.path.exists(molecule_yml):
        with open(molecule_yml) as f:
            groups = {p['name']: p.get('groups', []) for p in yaml.safe_load(f)['platforms']}
    every = [Host(h, v['ansible_host'], ssh_dir) for h, v in sorted(hosts.items())]
    lab = {
        'name': name,
        'hosts': [h for h in every if 'hostgw_nodes' in groups.get(h.name, ['hostgw_nodes'])],
        'routers': [h for h in every if 'routers' in groups.get(h.name, [])],
        'inventory': inventory,
        'ansible_cfg': os.path.join(os.path.dirname(inventory), 'ansible.cfg'),
    }
    for h in every:
        h.wait_booted()
    return lab


@pytest.fixture(scope='session')
def hosts(lab):
    return lab['hosts']


@pytest.fixture(scope='session')
def ansible(lab):
    """ansible-playbook over SSH (hostgw + sudo, pipelining) with the scenario's inventory."""
    def play(*args, check=True, timeout=600):
        # A fresh ControlPath directory per run: an SSH master from before a reboot would hang on its dead
        # TCP connection (the host's network namespace is gone, nothing ever sends a reset).
        cp_dir = tempfile.mkdtemp(prefix='cp-', dir=os.environ.get('ANSIBLE_LOCAL_TEMP'))
        env = dict(os.environ, ANSIBLE_PIPELINING='true', NO_COLOR='1', ANSIBLE_SSH_CONTROL_PATH_DIR=cp_dir)
        env.pop('ANSIBLE_FORCE_COLOR', None)
        if os.path.exists(lab['ansible_cfg']):
            env['ANSIBLE_CONFIG'] = lab['ansible_cfg']
        try:
            return run(['ansible-playbook', '-i', lab['inventory']] + list(args), check=check, timeout=timeout,
                       env=env, cwd=REPO)
        finally:
            shutil.rmtree(cp_dir, ignore_errors=True)
    return play


def recap(stdout):
    """{host: {ok: n, changed: n, ...}} from a PLAY RECAP."""
    out = {}
    for m in re.finditer(r'^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$', stdout, re.M):
        out[m.group(1)] = {k: int(v) for k, v in re.findall(r'(\w+)=(\d+)', m.group(2))}
    return out


def wait_for(predicate, timeout, step=1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)
