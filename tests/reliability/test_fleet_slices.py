# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Parallel slices of one inventory converge to one mesh (issue 16, docs/fleet.md), on network-namespace hosts.

What AWX job slicing does: K runs of playbooks/site.yml at the same time over disjoint slices of the inventory
(each a ``--limit``), here three, with new hosts in two of them. No slice talks to another; each plans the new hosts
of the others from the member tables of its own hosts, the way a full run would (``hostgw_predict_new: true``, as a
sliced job without a fact cache sets it). Afterwards the kernel of every host
is read back: no two hosts on one subnet, every host routes to every other one's subnet via its node IP, the member
tables agree, and a full run changes nothing.

Hosts: a segment namespace with a bridge and seven host namespaces whose ``eth0`` (10.181.0.0/24) is a port of it,
no default route, nothing connected to this machine's own namespace; Ansible reaches them with the local connection
through an interpreter wrapper that enters the namespace and a private mount namespace whose /etc is an overlay and
whose /run a tmpfs (what the role writes lands in the test's directory).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
NODES = ['n%d' % i for i in range(1, 8)]
CLUSTER = '10.245.0.0/16'


def ip_of(name):
    return '10.181.0.%d' % (10 + int(name[1:]))


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check)


@pytest.fixture
def netns_hosts(tmp_path):
    if os.geteuid() != 0 or not shutil.which('ip'):
        pytest.skip('needs root and iproute2 (network namespaces)')
    prefix = 'hgwf-%d-' % os.getpid()
    seg = prefix + 'seg'
    made = []
    try:
        sh('ip', 'netns', 'add', seg)
        made.append(seg)
        sh('ip', '-n', seg, 'link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0')
        sh('ip', '-n', seg, 'link', 'set', 'br0', 'up')
        hosts = {}
        for name in NODES:
            ns = prefix + name
            sh('ip', 'netns', 'add', ns)
            made.append(ns)
            sh('ip', '-n', seg, 'link', 'add', 'p' + name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
            sh('ip', '-n', seg, 'link', 'set', 'p' + name, 'master', 'br0', 'up')
            for cmd in (['link', 'set', 'lo', 'up'], ['link', 'set', 'eth0', 'up'],
                        ['addr', 'add', '%s/24' % ip_of(name), 'dev', 'eth0']):
                sh('ip', '-n', ns, *cmd)
            d = tmp_path / name
            (d / 'upper').mkdir(parents=True)
            (d / 'work').mkdir()
            wrapper = d / 'python'
            wrapper.write_text(
                '#!/bin/sh\nexec ip netns exec %s unshare -m /bin/sh -c \'mount --make-rprivate / && '
                'mount -t overlay overlay -o lowerdir=/etc,upperdir=%s/upper,workdir=%s/work /etc && '
                'mount -t tmpfs tmpfs /run && exec "$@"\' hostgw-fleet %s "$@"\n' % (ns, d, d, sys.executable))
            wrapper.chmod(0o755)
            hosts[name] = dict(ns=ns, python=str(wrapper))
        yield hosts
    finally:
        for ns in reversed(made):
            sh('ip', 'netns', 'del', ns, check=False)


def inventory(path, hosts, names):
    lines = ['all:', '  children:', '    hostgw_nodes:',
             '      vars: {ansible_connection: local, hostgw_network: %s, hostgw_persist: false}' % CLUSTER,
             '      hosts:']
    for name in names:
        lines.append('        %s: {ansible_python_interpreter: %s, hostgw_node_ip: %s}'
                     % (name, hosts[name]['python'], ip_of(name)))
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def playbook(inv, *args, background=False):
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_RETRY_FILES_ENABLED='0', ANSIBLE_HOST_KEY_CHECKING='False',
               ANSIBLE_PYTHON_INTERPRETER='auto_silent')
    exe = os.path.join(REPO, '.venv', 'bin', 'ansible-playbook')
    argv = [exe if os.path.exists(exe) else 'ansible-playbook', '-i', inv, os.path.join(REPO, 'playbooks', 'site.yml')]
    proc = subprocess.Popen(argv + list(args), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    return proc if background else finish(proc)


def finish(proc):
    out = proc.communicate(timeout=900)[0]
    recap = {}
    for line in out.splitlines():
        if ' ok=' in line and ' changed=' in line and ':' in line:
            name = line.split(':', 1)[0].strip()
            recap[name] = dict(kv.split('=') for kv in line.split(':', 1)[1].split())
    return proc.returncode, out, recap


def kernel(hosts, name):
    """(hostgw's routes {dest: via}, cni0's IPv4 addresses) read back from the host's namespace."""
    ns = hosts[name]['ns']
    routes = json.loads(sh('ip', '-n', ns, '-j', 'route', 'show', 'proto', '244').stdout or '[]')
    addrs = json.loads(sh('ip', '-n', ns, '-j', '-4', 'addr', 'show', 'dev', 'cni0', check=False).stdout or '[]')
    return (dict((r['dst'], r.get('gateway')) for r in routes),
            sorted('%s/%s' % (a['local'], a['prefixlen']) for x in addrs for a in x.get('addr_info', [])))


def members_table(hosts, name):
    d = os.path.dirname(hosts[name]['python'])
    with open(os.path.join(d, 'upper', 'hostgw', 'members.json')) as f:
        return json.load(f)['members']


def test_three_concurrent_slices_with_new_hosts_in_two_converge_to_one_mesh(netns_hosts, tmp_path):
    hosts = netns_hosts
    rc, out, _recap = playbook(inventory(tmp_path / 'mesh3.yml', hosts, NODES[:3]))
    assert rc == 0, out[-4000:]
    inv = inventory(tmp_path / 'mesh7.yml', hosts, NODES)
    # n4..n7 are new: n4 and n5 in the first slice, n6 in the second, none in the third.
    slices = [['n1', 'n4', 'n5'], ['n2', 'n6', 'n7'], ['n3']]
    # Without a fact cache, each slice predicts the others' new hosts: the job says so (hostgw_predict_new).
    procs = [playbook(inv, '--limit', ','.join(part), '-e', 'hostgw_predict_new=true', background=True) for part in slices]
    for part, proc in zip(slices, procs):
        rc, out, recap = finish(proc)
        assert rc == 0, (part, out[-4000:])
        assert sorted(recap) == part, (part, recap)
    want = dict((name, '10.245.%d.0/24' % int(name[1:])) for name in NODES)    # lowest free, by name
    seen = {}
    for name in NODES:
        routes, addrs = kernel(hosts, name)
        assert addrs == ['10.245.%d.1/24' % int(name[1:])], (name, addrs)
        assert routes == dict((want[p], ip_of(p)) for p in NODES if p != name), name
        seen.setdefault(addrs[0], []).append(name)
        assert members_table(hosts, name) == dict((p, [want[p], ip_of(p)]) for p in NODES), name
    assert all(len(v) == 1 for v in seen.values()), seen
    rc, out, recap = playbook(inv)
    assert rc == 0, out[-4000:]
    assert all(recap[name]['changed'] == '0' for name in NODES), recap


def test_serial_2_as_a_first_deployment_is_refused_before_any_host_is_touched(netns_hosts, tmp_path):
    """From nothing no host has a table: the first batch cannot tell new hosts from wiped ones, so it refuses."""
    hosts = netns_hosts
    inv = inventory(tmp_path / 'mesh5.yml', hosts, NODES[:5])
    play = tmp_path / 'serial.yml'
    play.write_text('- hosts: hostgw_nodes\n  become: false\n  gather_facts: false\n  serial: 2\n'
                    '  roles:\n    - role: hostgw.network.hostgw\n')
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_RETRY_FILES_ENABLED='0')
    exe = os.path.join(REPO, '.venv', 'bin', 'ansible-playbook')
    p = subprocess.run([exe if os.path.exists(exe) else 'ansible-playbook', '-i', inv, str(play)], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=900, check=False)
    # From nothing, the first batch has no member table: it refuses rather than guess (docs/fleet.md).
    assert p.returncode != 0, p.stdout[-3000:]
    assert 'in this run hold no lease (new, or wiped) and no host of the run has a member table' in p.stdout, p.stdout[-3000:]
    for name in NODES[:5]:
        assert kernel(hosts, name) == ({}, []), name
