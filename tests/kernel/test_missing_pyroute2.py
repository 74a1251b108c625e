# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pyroute2 is needed only for link and address changes: without it cni_bridge fails with a message that says how
to install it and changes nothing; reads, no-op runs and every route change work without it."""

from __future__ import annotations

import pytest

from conftest import ModuleRunner


@pytest.fixture
def run_without_pyroute2(interp, collections_path, tmp_path):
    shim = tmp_path / 'shim' / 'pyroute2'
    shim.mkdir(parents=True)
    (shim / '__init__.py').write_text('raise ImportError("No module named pyroute2 (hidden by the hostgw test shim)")\n')
    return ModuleRunner(interp, collections_path, str(tmp_path), extra_pythonpath=[str(shim.parent)])


def test_bridge_change_needs_pyroute2(run_without_pyroute2, interp, ns):
    links = ns.links()
    res = run_without_pyroute2(ns, 'cni_bridge', dict(addresses=['10.244.1.1/24']), fail=True)
    assert 'pyroute2 is not importable by %s' % interp.path in res['msg']
    assert 'python3-pyroute2' in res['msg'] and 'pip install pyroute2' in res['msg']
    assert ns.links() == links


def test_no_pyroute2_for_reads_and_routes(run_without_pyroute2, run_module, ns):
    """Without pyroute2: hostgw_facts reads, a bridge that is right is a no-op, routes are added and removed."""
    run_module(ns, 'cni_bridge', dict(addresses=['10.244.1.1/24']))   # made with pyroute2
    ns.ip('link', 'add', 'eth0', 'type', 'bridge')
    ns.ip('link', 'set', 'eth0', 'up')
    ns.ip('addr', 'add', '10.168.0.1/24', 'dev', 'eth0')
    facts = run_without_pyroute2(ns, 'hostgw_facts', dict(state_dir=str(run_module.tmpdir)))
    host = facts['ansible_facts']['hostgw_host']
    # The shim raises on import: every run below succeeding proves these paths never import pyroute2.
    assert any(x['name'] == 'cni0' and x['kind'] == 'bridge' for x in host['links'])
    assert {'ifname': 'eth0', 'family': 4, 'address': '10.168.0.1', 'prefixlen': 24, 'temporary': False} in host['addresses']
    res = run_without_pyroute2(ns, 'cni_bridge', dict(addresses=['10.244.1.1/24']))
    assert res['changed'] is False
    for mode, line in (('false', '192.168.1.0/24 via 10.168.0.2 dev eth0 proto 244'),
                       ('true', '192.168.1.0/24 nhid 244000000 via 10.168.0.2 dev eth0 proto 244')):
        res = run_without_pyroute2(ns, 'hostgw_route', dict(routes=[dict(dest='192.168.1.0/24', via='10.168.0.2')],
                                                            uplink='eth0', nexthop_objects=mode))
        assert (res['added'] or res['replaced']) == [line]
        assert '192.168.1.0/24 %svia 10.168.0.2 dev eth0 proto 244' % ('nhid 244000000 ' if mode == 'true' else '') \
            in ns.ip('route', 'show').stdout
    res = run_without_pyroute2(ns, 'hostgw_route', dict(state='absent'))
    assert res['removed'] == ['192.168.1.0/24 nhid 244000000 via 10.168.0.2 dev eth0 proto 244']
    assert res['nexthops_removed'] == ['id 244000000 via 10.168.0.2 dev eth0 proto 244']
    assert '192.168.1.0/24' not in ns.ip('route', 'show').stdout and ns.ip('nexthop', 'show').stdout.strip() == ''
