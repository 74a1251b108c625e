# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""hostgw_facts' reader (plugins/module_utils/_facts.py) against the fake kernel seam: what the host fact holds."""

from __future__ import annotations

from ansible_collections.hostgw.network.plugins.module_utils import _facts
from ansible_collections.hostgw.network.plugins.module_utils._routes import KRoute
from ansible_collections.hostgw.network.tests.unit.plugins.module_utils.fake_kernel import FakeKernel

__metaclass__ = type  # pylint: disable=invalid-name


def test_facts_drop_link_local_loopback_and_unrelated_routes():
    host = _facts.read_host(FakeKernel(), ['10.244.0.0/16'])
    assert [a['address'] for a in host['addresses']] == ['10.168.0.1', 'fd00::1']
    assert [a['temporary'] for a in host['addresses']] == [False, True]
    assert [r['dest'] for r in host['routes']] == ['0.0.0.0/0']            # 172.16/16 and 10.168/24 do not overlap
    assert host['default_ipv4'] == '10.168.0.1' and host['default_ipv6'] is None
    assert len(_facts.read_host(FakeKernel())['routes']) == 3


def test_facts_leave_out_hostgws_own_routes():
    """The fact must not grow with the mesh: hostgw's routes (one per peer) are left out with skip_proto."""
    k = FakeKernel()
    k.routes_ += [KRoute(4, '10.244.%d.0/24' % i, '10.168.0.%d' % i, 2, 244, 0, 1) for i in range(2, 50)]
    k.routes_.append(KRoute(4, '10.244.99.0/24', '10.168.0.9', 2, 4, 0, 1))      # foreign: the controller checks it
    host = _facts.read_host(k, ['10.244.0.0/16'], skip_proto=244)
    assert [r['dest'] for r in host['routes']] == ['0.0.0.0/0', '10.244.99.0/24']
    assert len(_facts.read_host(k, ['10.244.0.0/16'])['routes']) == 50


def test_vxlan_support_from_sys_and_module_lists(tmp_path):
    from ansible_collections.hostgw.network.plugins.module_utils._facts import vxlan_support  # pylint: disable=import-outside-toplevel
    sys_root, lib = tmp_path / 'sys', tmp_path / 'lib'
    assert vxlan_support('6.1.0', str(sys_root), str(lib)) is None               # no module lists: cannot tell
    (lib / '6.1.0').mkdir(parents=True)
    (lib / '6.1.0' / 'modules.builtin').write_text('kernel/net/ipv4/udp_tunnel.ko\n')
    (lib / '6.1.0' / 'modules.dep').write_text('kernel/drivers/net/dummy.ko.xz:\n')
    assert vxlan_support('6.1.0', str(sys_root), str(lib)) is False
    (lib / '6.1.0' / 'modules.dep').write_text('kernel/drivers/net/vxlan/vxlan.ko.xz: kernel/net/ipv4/udp_tunnel.ko.xz\n')
    assert vxlan_support('6.1.0', str(sys_root), str(lib)) is True
    (lib / '6.1.0' / 'modules.dep').write_text('')
    (lib / '6.1.0' / 'modules.builtin').write_text('kernel/drivers/net/vxlan/vxlan.ko\n')
    assert vxlan_support('6.1.0', str(sys_root), str(lib)) is True
    (lib / '6.1.0' / 'modules.builtin').write_text('')
    (sys_root / 'module' / 'vxlan').mkdir(parents=True)                         # loaded
    assert vxlan_support('6.1.0', str(sys_root), str(lib)) is True
