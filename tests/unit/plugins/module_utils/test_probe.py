# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""hostgw_probe's work (plugins/module_utils/_probe.py) with a fake ``run``: which peers it probes, from which file,
and that a probe of nobody fails."""

from __future__ import annotations

import json

import pytest

from ansible_collections.hostgw.network.plugins.module_utils import _lease
from ansible_collections.hostgw.network.plugins.module_utils._probe import ProbeError, probe

__metaclass__ = type  # pylint: disable=invalid-name

PLAN = {'network': '10.244.0.0/16', 'group': 'hostgw_nodes', 'lease_peers': 1, 'hosts': dict(
    ('n%d' % i, {'subnet': '10.244.%d.0/24' % i, 'node_ip': '10.168.0.%d' % i}) for i in range(1, 5))}


def params(state_dir, **kw):
    p = dict(state_dir=str(state_dir), peers=None, subnet=None, subnet6=None, timeout=1, min_peers=1)
    p.update(kw)
    return p


class Runner:
    """Records argv; every ping answers unless its target is in ``down``."""

    def __init__(self, down=()):
        self.calls = []
        self.down = set(down)

    def __call__(self, argv):
        self.calls.append(argv)
        if argv[0] == 'ping':
            return (1 if argv[-1] in self.down else 0), '', ''
        return 0, '%s via 10.168.0.9 dev eth0\n' % argv[4], ''


def write(state_dir, host='n1', members=True, lease=None):
    files = _lease.mesh_files(PLAN, host, str(state_dir / 'lease.json'), str(state_dir / 'members.json') if members else None)
    for f in files:
        (state_dir / f['path'].split('/')[-1]).write_text(f['content'])
    if lease is not None:
        (state_dir / 'lease.json').write_text(json.dumps(lease))


def run_probe(p, runner=None):
    return probe(p, runner or Runner(), lambda name: name)


def test_without_peers_every_member_of_the_table_is_probed(tmp_path):
    write(tmp_path)
    res = run_probe(params(tmp_path), Runner(down=['10.244.3.1']))
    assert res['peers_from'] == 'members.json' and res['source'] == '10.244.1.1'
    assert sorted(res['peers']) == ['n2', 'n3', 'n4'] and res['failed_peers'] == ['n3']


def test_a_ring_lease_alone_gives_its_recorded_peers_not_nobody(tmp_path):
    """The defect of 0.2: only the old 'mesh' key was read, so a ring lease probed nobody and passed."""
    write(tmp_path, members=False)
    res = run_probe(params(tmp_path))
    assert res['peers_from'] == 'lease.json' and sorted(res['peers']) == ['n2']     # lease_peers 1: its successor


def test_a_full_mesh_lease_of_before_is_read_too(tmp_path):
    write(tmp_path, members=False, lease={'host': 'n1', 'subnet': '10.244.1.0/24', 'mesh': {
        'n1': {'subnet': '10.244.1.0/24'}, 'n2': {'subnet': '10.244.2.0/24'}, 'n3': {'subnet': '10.244.3.0/24'}}})
    assert sorted(run_probe(params(tmp_path))['peers']) == ['n2', 'n3']


def test_probing_nobody_fails_unless_a_one_node_mesh_is_expected(tmp_path):
    write(tmp_path, members=False, lease={'host': 'n1', 'subnet': '10.244.1.0/24', 'peers': {}})
    with pytest.raises(ProbeError) as e:
        run_probe(params(tmp_path))
    assert str(e.value) == ('probed 0 peers (from lease.json), fewer than min_peers 1: the node knows no peer '
                            '(set min_peers: 0 for a one-node mesh)')
    assert run_probe(params(tmp_path, min_peers=0))['peers'] == {}
    with pytest.raises(ProbeError) as e:
        run_probe(params(tmp_path, subnet='10.244.1.0/24', peers=[]))
    assert '(from peers)' in str(e.value)


def test_given_peers_win_and_a_missing_lease_is_named(tmp_path):
    res = run_probe(params(tmp_path, subnet='10.244.1.0/24', peers=[{'host': 'n2', 'subnet': '10.244.2.0/24'}]))
    assert res['peers_from'] == 'peers' and list(res['peers']) == ['n2']
    with pytest.raises(ProbeError) as e:
        run_probe(params(tmp_path))
    assert 'cannot read the lease in %s' % tmp_path in str(e.value)


def test_commands_are_argv_lists_from_the_own_gateway(tmp_path):
    write(tmp_path)
    runner = Runner()
    run_probe(params(tmp_path), runner)
    assert ['ping', '-4', '-c', '1', '-W', '1', '-I', '10.244.1.1', '10.244.2.1'] in runner.calls
    assert all(isinstance(c, list) for c in runner.calls)
