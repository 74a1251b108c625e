# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The boot program (plugins/module_utils/_boot_program.py: the boot restore and the repair timer) against the fake
kernel seam: it adds only, replaces only what hostgw owns, reports conflicts and failures per object, its exit codes."""

from __future__ import annotations

import json

from ansible_collections.hostgw.network.plugins.module_utils import _boot_program, _node
from ansible_collections.hostgw.network.plugins.module_utils._bridge import OWNER_ALIAS
from ansible_collections.hostgw.network.plugins.module_utils._routes import KRoute
from ansible_collections.hostgw.network.tests.unit.plugins.module_utils.fake_kernel import FakeKernel, NhKernel, route_params

__metaclass__ = type  # pylint: disable=invalid-name


def state(k):
    br = _node.bridge(dict(bridge='cni0', addresses=['10.244.1.1/24'], mtu=1450, state='present'), k)
    rt = _node.routes(route_params(), k)
    return _boot_program.boot_state(bridge=br['boot_state'], routes=rt['boot_state'])


def test_replay_adds_only_and_reports_foreign_route():
    k = FakeKernel()
    doc = json.loads(json.dumps(state(k)))            # what restore.json holds
    boot = FakeKernel()                               # after a reboot: nothing of hostgw
    boot.routes_.append(KRoute(4, '10.244.2.0/24', '10.168.0.77', 2, 4, 0, 1))   # foreign, static
    rep = _boot_program.replay(doc, boot)
    assert len(rep.failures) == 1 and 'destination 10.244.2.0/24 is held by a route hostgw does not own' in rep.failures[0]
    assert '(10.244.2.0/24 via 10.168.0.77 dev eth0 proto 4 metric 0)' in rep.failures[0]     # the link by name
    assert 'route add 10.244.3.0/24 via 10.168.0.3 dev eth0 proto 244' in rep.changes
    assert KRoute(4, '10.244.2.0/24', '10.168.0.77', 2, 4, 0, 1) in boot.routes_          # left as it is
    assert any(x['name'] == 'cni0' and x['alias'] == OWNER_ALIAS and x['up'] for x in boot.links_)


def test_replay_never_deletes_and_replaces_owned_only():
    k = FakeKernel()
    doc = state(k)
    k.routes_ = [r if r.dest != '10.244.2.0/24' else r._replace(via='10.168.0.22') for r in k.routes_]
    k.addr_add(3, '10.99.0.1/24')                       # an extra address on the bridge stays
    rep = _boot_program.replay(doc, k)
    assert rep.failures == [] and rep.changes == ['route replace 10.244.2.0/24 via 10.168.0.2 dev eth0 proto 244']
    assert any(a.address == '10.99.0.1' for a in k.addrs_)


def test_replay_check_changes_nothing_and_refusals_are_per_route():
    k = FakeKernel()
    doc = state(k)
    boot = FakeKernel()
    rep = _boot_program.replay(doc, boot, check=True)
    assert rep.changes and boot.calls == []
    boot.refuse.add('10.244.2.0/24')
    rep = _boot_program.replay(doc, boot)
    assert [f for f in rep.failures if '10.244.2.0/24' in f] and 'route add 10.244.3.0/24 via 10.168.0.3 dev eth0 proto 244' in rep.changes


def test_replay_foreign_link_and_bad_document():
    k = FakeKernel()
    doc = state(k)
    boot = FakeKernel()
    boot.links_.append(dict(index=9, name='cni0', kind='bridge', mtu=1500, up=True, alias=None, master=None))
    rep = _boot_program.replay(doc, boot)
    assert any('a link of that name exists that hostgw does not own' in f for f in rep.failures)
    assert _boot_program.replay({'schema': 99}, boot).failures == ['state: not a hostgw restore document of schema 1']


def test_main_exit_codes(tmp_path, monkeypatch):
    k = FakeKernel()
    doc = state(k)
    path = tmp_path / 'restore.json'
    path.write_text(json.dumps(doc))

    class Ctx:
        def __enter__(self):
            return k

        def __exit__(self, *a):
            return False
    monkeypatch.setattr(_boot_program._netlink, 'Kernel', Ctx)

    class Out:
        text = ''

        def write(self, s):
            Out.text += s

        def flush(self):
            pass
    assert _boot_program.main([str(path)], Out()) == 0 and Out.text.endswith('0 changed, 0 failed\n')
    k.routes_ = [r for r in k.routes_ if r.dest != '10.244.3.0/24']
    assert _boot_program.main(['--check', str(path)], Out()) == 3
    assert _boot_program.main([str(path)], Out()) == 0
    assert _boot_program.main([str(tmp_path / 'missing.json')], Out()) == 1
    assert _boot_program.main([], Out()) == 2


def test_replay_in_nexthop_mode():
    k = NhKernel()
    rt = _node.routes(route_params(nexthop_objects='true'), k)
    doc = _boot_program.boot_state(routes=rt['boot_state'])
    boot = NhKernel()
    rep = _boot_program.replay(doc, boot)
    assert rep.failures == [] and len(boot.nh) == 2
    assert sorted(r.nhid for r in boot.routes_ if r.proto == 244) == sorted(n.id for n in boot.nh)
    assert _boot_program.replay(doc, boot).changes == []
