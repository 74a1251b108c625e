# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Without pyroute2 the modules fail with a message that says how to install it, and change nothing."""

from __future__ import annotations

import pytest

from conftest import ModuleRunner


@pytest.fixture
def run_without_pyroute2(interp, collections_path, tmp_path):
    shim = tmp_path / 'shim' / 'pyroute2'
    shim.mkdir(parents=True)
    (shim / '__init__.py').write_text('raise ImportError("No module named pyroute2 (hidden by the hostgw test shim)")\n')
    return ModuleRunner(interp, collections_path, str(tmp_path), extra_pythonpath=[str(shim.parent)])


@pytest.mark.parametrize('module, args', [
    ('cni_bridge', dict(addresses=['10.244.1.1/24'])),
    ('hostgw_route', dict(routes=[dict(dest='192.168.1.0/24', via='10.168.0.2')], dev='lo')),
    ('hostgw_route', dict(state='absent')),
], ids=['cni_bridge', 'hostgw_route-present', 'hostgw_route-absent'])
def test_missing_pyroute2(run_without_pyroute2, interp, ns, module, args):
    links = ns.links()
    res = run_without_pyroute2(ns, module, args, fail=True)
    assert 'pyroute2 is not importable by %s' % interp.path in res['msg']
    assert 'python3-pyroute2' in res['msg'] and 'pip install pyroute2' in res['msg']
    assert ns.links() == links
