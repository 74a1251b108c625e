# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every node module's EXAMPLES block runs as written, with ansible-playbook, on a node of a test mesh.

The node is a network namespace (uplink eth0 10.168.0.1/24, peers 10.168.0.2 and .3 on the same segment), reached
with the local connection through an interpreter wrapper that enters the namespace and a private mount namespace
whose /etc is an overlay: what the examples write under /etc lands in the test's directory, never on this machine.
"""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from conftest import REPO

NODE_MODULES = ['cni_bridge', 'hostgw_route', 'hostgw_facts', 'hostgw_files', 'hostgw_restore', 'hostgw_probe']


def examples(module):
    path = os.path.join(REPO, 'plugins', 'modules', '%s.py' % module)
    text = open(path).read()
    start = text.index("EXAMPLES = r'''") + len("EXAMPLES = r'''")
    return yaml.safe_load(text[start:text.index("'''", start)])


@pytest.fixture
def example_node(mesh_factory, tmp_path, interp):
    mesh = mesh_factory(3)
    node = mesh.nodes[0]
    upper, work = tmp_path / 'etc-upper', tmp_path / 'etc-work'
    upper.mkdir()
    work.mkdir()
    wrapper = tmp_path / 'python'
    wrapper.write_text(
        '#!/bin/sh\n'
        'exec ip netns exec %s unshare -m /bin/sh -c \'mount --make-rprivate / && '
        'mount -t overlay overlay -o lowerdir=/etc,upperdir=%s,workdir=%s /etc && exec "$@"\' hostgw-example %s "$@"\n'
        % (node.netns.name, upper, work, interp.path))
    wrapper.chmod(0o755)
    inventory = tmp_path / 'hosts.ini'
    inventory.write_text('node1 ansible_connection=local ansible_python_interpreter=%s\n' % wrapper)
    return mesh, node, inventory, upper


def run_playbook(interp, collections_path, tmp_path, inventory, tasks):
    play = tmp_path / 'play.yml'
    play.write_text(yaml.safe_dump([dict(name='examples', hosts='node1', gather_facts=False, tasks=tasks)]))
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('ANSIBLE_', 'PYTHON')))
    env.update(ANSIBLE_COLLECTIONS_PATH=collections_path, ANSIBLE_HOME=str(tmp_path / 'ansible-home'),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'), ANSIBLE_NOCOLOR='1', ANSIBLE_RETRY_FILES_ENABLED='0',
               ANSIBLE_BECOME_METHOD='su', LC_ALL='C.UTF-8')
    playbook = os.path.join(os.path.dirname(interp.path), 'ansible-playbook')
    return subprocess.run([playbook, '-i', str(inventory), str(play)], capture_output=True, text=True, env=env,
                          timeout=300, check=False)


@pytest.mark.parametrize('module', NODE_MODULES)
def test_examples_run_as_written(module, example_node, interp, collections_path, tmp_path):
    mesh, node, inventory, upper = example_node
    tasks = examples(module)
    assert tasks and all(isinstance(t, dict) for t in tasks)
    # become: true in an example is honoured as written; the test runs as root, so su to root changes nothing.
    p = run_playbook(interp, collections_path, tmp_path, inventory, tasks)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    assert 'failed=0' in p.stdout and 'unreachable=0' in p.stdout
    # It ran on the node, not on this machine: nothing of hostgw in the machine's own namespace.
    assert subprocess.run(['ip', 'link', 'show', 'cni0'], capture_output=True, check=False).returncode != 0
    assert subprocess.run(['ip', 'route', 'show', 'proto', '244'], capture_output=True, text=True,
                          check=True).stdout.strip() == ''
    if module == 'cni_bridge':
        assert node.link('cni0') is None                # the last example removed it again
    elif module == 'hostgw_route':
        assert node.owned() == []                       # ... and the last example removed every owned route
        assert node.link('hostgw.1') is None            # ... and the VXLAN device of the cross-segment example
    elif module == 'hostgw_restore':
        assert os.path.exists(str(upper / 'hostgw' / 'restore.json'))
        assert os.path.exists(str(upper / 'systemd' / 'system' / 'hostgw-repair.timer'))
        assert node.link('cni0') is not None and [r['dst'] for r in node.owned()] == ['10.244.2.0/24']
    elif module == 'hostgw_files':
        assert not os.path.exists(str(upper / 'hostgw' / 'subnet.env'))   # written, then removed with its directory
