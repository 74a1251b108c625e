# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""cni_bridge against the kernel, in a network namespace per test; state is read back with ``ip -j``."""

from __future__ import annotations

import pytest

OWNER_ALIAS = 'hostgw: managed bridge'
GW4 = '10.244.1.1/24'
GW6 = 'fd00:10:244:1::1/64'


def bridge(run_module, ns, check_mode=False, diff=False, fail=False, **args):
    return run_module(ns, 'cni_bridge', args, check_mode=check_mode, diff=diff, fail=fail)


def assert_bridge(ns, addrs, mtu=1500, name='cni0'):
    link = ns.link(name)
    assert link is not None, '%s does not exist' % name
    assert link['linkinfo']['info_kind'] == 'bridge'
    assert 'UP' in link['flags']
    assert link['mtu'] == mtu
    assert link.get('ifalias') == OWNER_ALIAS
    assert ns.cidrs(name) == sorted(addrs)
    return link


def test_create(run_module, ns):
    res = bridge(run_module, ns, addresses=[GW4], mtu=1450)
    assert res['changed'] is True
    assert res['actions'][0] == 'create'
    assert 'addr_add %s' % GW4 in res['actions']
    assert_bridge(ns, [GW4], mtu=1450)
    assert ns.cidrs('cni0', 'inet') == [GW4]
    # Like the CNI bridge plugin, the IPv4 gateway address carries the subnet's broadcast.
    assert ns.addrs('cni0', 'inet')[0].get('broadcast') == '10.244.1.255'
    assert res['bridge'] == dict(name='cni0', mtu=1450, up=True, addresses=[GW4])
    # The kernel's connected route for the pod subnet exists: the address really is in use.
    assert any(r['dst'] == '10.244.1.0/24' and r['dev'] == 'cni0' for r in ns.routes(4))


def test_create_other_name_default_mtu(run_module, ns):
    res = bridge(run_module, ns, name='podbr1', addresses=[GW4])
    assert res['changed'] is True
    assert_bridge(ns, [GW4], mtu=1500, name='podbr1')
    assert ns.link('cni0') is None


def test_idempotent(run_module, ns):
    bridge(run_module, ns, addresses=[GW4, GW6], mtu=1450)
    before = ns.link('cni0'), ns.addrs('cni0')
    res = bridge(run_module, ns, addresses=[GW4, GW6], mtu=1450)
    assert res['changed'] is False
    assert res['actions'] == []
    assert res['bridge'] == dict(name='cni0', mtu=1450, up=True, addresses=sorted([GW4, GW6]))
    after = ns.link('cni0'), ns.addrs('cni0')
    assert before[0]['ifindex'] == after[0]['ifindex']
    assert [a['local'] for a in before[1]] == [a['local'] for a in after[1]]


def test_check_mode_on_absent_bridge(run_module, ns):
    links_before = ns.links()
    res = bridge(run_module, ns, check_mode=True, addresses=[GW4], mtu=1400)
    assert res['changed'] is True
    assert res['actions'][0] == 'create'
    assert res['bridge'] == dict(name='cni0', mtu=1400, up=True, addresses=[GW4])
    assert ns.link('cni0') is None
    assert ns.links() == links_before


def test_check_mode_on_existing_bridge(run_module, ns):
    bridge(run_module, ns, addresses=[GW4])
    before = ns.link('cni0'), ns.addrs('cni0')
    res = bridge(run_module, ns, check_mode=True, addresses=['10.244.9.1/24'], mtu=1400)
    assert res['changed'] is True
    assert res['bridge']['addresses'] == ['10.244.9.1/24']
    assert (ns.link('cni0'), ns.addrs('cni0')) == before


def test_diff_create(run_module, ns):
    res = bridge(run_module, ns, diff=True, addresses=[GW4, GW6])
    d = res['diff']
    assert d['before'] == ''
    assert 'cni0: bridge mtu 1500 up' in d['after']
    assert 'inet %s' % GW4 in d['after']
    assert 'inet6 %s' % GW6 in d['after']


def test_diff_change(run_module, ns):
    bridge(run_module, ns, addresses=[GW4], mtu=1500)
    res = bridge(run_module, ns, diff=True, check_mode=True, addresses=['10.244.2.1/24'], mtu=1400)
    d = res['diff']
    assert 'cni0: bridge mtu 1500 up' in d['before'] and 'inet %s' % GW4 in d['before']
    assert 'cni0: bridge mtu 1400 up' in d['after'] and 'inet 10.244.2.1/24' in d['after']
    assert GW4 not in d['after']
    assert 'fe80' not in d['before'] + d['after']
    # --diff on a bridge that is right: before == after
    res = bridge(run_module, ns, diff=True, addresses=[GW4], mtu=1500)
    assert res['changed'] is False
    assert res['diff']['before'] == res['diff']['after']


def test_stale_address_replaced(run_module, ns):
    """Flannel #1013: cni0 keeps an old subnet's address; the module swaps it."""
    bridge(run_module, ns, addresses=[GW4])
    ns.ip('addr', 'add', '10.99.0.1/16', 'dev', 'cni0')  # a stray extra address too
    res = bridge(run_module, ns, addresses=['10.244.7.1/24'])
    assert res['changed'] is True
    assert 'addr_del %s' % GW4 in res['actions']
    assert 'addr_del 10.99.0.1/16' in res['actions']
    assert 'addr_add 10.244.7.1/24' in res['actions']
    assert_bridge(ns, ['10.244.7.1/24'])
    dsts = [r['dst'] for r in ns.routes(4)]
    assert '10.244.7.0/24' in dsts and '10.244.1.0/24' not in dsts


def test_stale_secondary_in_same_subnet(run_module, ns):
    """Replacing the primary address of a subnet must not lose the wanted (secondary) one."""
    bridge(run_module, ns, addresses=['10.244.1.2/24'])
    ns.ip('addr', 'add', GW4, 'dev', 'cni0')  # becomes a secondary of 10.244.1.0/24
    res = bridge(run_module, ns, addresses=[GW4])
    assert res['changed'] is True
    # Deleting the primary took the secondary with it; the module puts it back and says so.
    assert res['actions'] == ['addr_del 10.244.1.2/24', 'addr_add %s' % GW4]
    assert_bridge(ns, [GW4])
    res = bridge(run_module, ns, addresses=[GW4])
    assert res['changed'] is False


def test_dual_stack_nodad_and_link_local(run_module, ns):
    assert ns.exec('sysctl', '-n', 'net.ipv6.conf.default.accept_dad').stdout.strip() != '0'
    bridge(run_module, ns, addresses=[GW4])
    lls = ns.cidrs('cni0', 'inet6', link_local=True)
    assert lls and all(a.startswith('fe80:') for a in lls), 'the kernel should have given cni0 a link-local address'
    # Control: an address added without nodad stays tentative on a bridge without ports.
    ns.ip('link', 'add', 'ctl0', 'type', 'bridge')
    ns.ip('link', 'set', 'ctl0', 'up')
    ns.ip('addr', 'add', 'fd00:99::1/64', 'dev', 'ctl0')
    assert ns.addrs('ctl0', 'inet6')[0].get('tentative') is True

    res = bridge(run_module, ns, addresses=[GW4, GW6])
    assert res['changed'] is True
    assert res['actions'] == ['addr_add %s' % GW6]
    assert ns.cidrs('cni0', 'inet6', link_local=True) == sorted(lls + [GW6])
    v6 = [a for a in ns.addrs('cni0', 'inet6') if a['scope'] == 'global']
    assert len(v6) == 1 and not v6[0].get('tentative') and not v6[0].get('dadfailed')
    assert res['bridge']['addresses'] == sorted([GW4, GW6])
    # Re-run: idempotent, link-local still there.
    res = bridge(run_module, ns, addresses=[GW4, GW6])
    assert res['changed'] is False
    # IPv6 dropped from the list: the global one goes, the link-local stays.
    res = bridge(run_module, ns, addresses=[GW4])
    assert res['actions'] == ['addr_del %s' % GW6]
    assert ns.cidrs('cni0', 'inet6', link_local=True) == lls
    assert ns.link('ctl0') is not None


def test_ipv6_address_non_canonical_input(run_module, ns):
    res = bridge(run_module, ns, addresses=['FD00:10:244:1:0:0:0:1/64', GW4])
    assert res['changed'] is True
    res = bridge(run_module, ns, addresses=['FD00:10:244:1:0:0:0:1/64', GW4])
    assert res['changed'] is False
    assert ns.cidrs('cni0') == sorted([GW4, GW6])


def test_mtu_change(run_module, ns):
    bridge(run_module, ns, addresses=[GW4], mtu=1500)
    res = bridge(run_module, ns, addresses=[GW4], mtu=1400)
    assert res['changed'] is True
    assert res['actions'] == ['mtu 1400']
    assert_bridge(ns, [GW4], mtu=1400)
    # mtu omitted: left as it is.
    res = bridge(run_module, ns, addresses=[GW4])
    assert res['changed'] is False
    assert ns.link('cni0')['mtu'] == 1400


def test_down_bridge_brought_up(run_module, ns):
    bridge(run_module, ns, addresses=[GW4, GW6])
    ns.ip('link', 'set', 'cni0', 'down')  # the kernel flushes the IPv6 address (keep_addr_on_down=0)
    assert ns.cidrs('cni0') == [GW4]
    res = bridge(run_module, ns, addresses=[GW4, GW6])
    assert res['actions'] == ['addr_add %s' % GW6, 'up']
    assert_bridge(ns, [GW4, GW6])
    res = bridge(run_module, ns, addresses=[GW4, GW6])
    assert res['changed'] is False


@pytest.mark.parametrize('state', ['present', 'absent'])
def test_non_bridge_link_named_cni0(run_module, ns, state):
    ns.ip('link', 'add', 'cni0', 'type', 'veth', 'peer', 'name', 'cni0peer')
    ns.ip('addr', 'add', '10.9.9.9/24', 'dev', 'cni0')
    before = ns.link('cni0'), ns.addrs('cni0')
    res = bridge(run_module, ns, fail=True, addresses=[GW4], state=state)
    assert 'cni0' in res['msg'] and 'veth' in res['msg']
    assert res.get('changed') in (None, False)
    assert (ns.link('cni0'), ns.addrs('cni0')) == before
    assert ns.link('cni0')['linkinfo']['info_kind'] == 'veth'


def test_foreign_bridge_adopted(run_module, ns):
    ns.ip('link', 'add', 'cni0', 'type', 'bridge')
    ns.ip('addr', 'add', '10.88.0.1/16', 'dev', 'cni0')
    index = ns.link('cni0')['ifindex']
    res = bridge(run_module, ns, addresses=[GW4])
    assert res['changed'] is True
    assert 'alias %s' % OWNER_ALIAS in res['actions']
    link = assert_bridge(ns, [GW4])
    assert link['ifindex'] == index  # adopted, not recreated
    # Now owned: absent deletes it.
    res = bridge(run_module, ns, state='absent')
    assert res['changed'] is True and res['actions'] == ['delete']
    assert ns.link('cni0') is None


def test_absent_deletes_owned_bridge(run_module, ns):
    bridge(run_module, ns, addresses=[GW4])
    res = bridge(run_module, ns, state='absent', check_mode=True)
    assert res['changed'] is True and res['bridge'] == {}
    assert ns.link('cni0') is not None
    res = bridge(run_module, ns, state='absent')
    assert res['changed'] is True
    assert res['bridge'] == {}
    assert ns.link('cni0') is None
    assert not any(r.get('dev') == 'cni0' for r in ns.routes(4))


def test_absent_refuses_foreign_bridge(run_module, ns):
    ns.ip('link', 'add', 'cni0', 'type', 'bridge')
    ns.ip('link', 'set', 'cni0', 'alias', 'someone else')
    before = ns.link('cni0')
    res = bridge(run_module, ns, fail=True, state='absent')
    assert 'cni0' in res['msg'] and 'not created or adopted by hostgw' in res['msg']
    assert ns.link('cni0') == before


def test_absent_when_missing(run_module, ns):
    links = ns.links()
    res = bridge(run_module, ns, state='absent')
    assert res['changed'] is False
    assert res['actions'] == []
    assert ns.links() == links


def test_invalid_input_changes_nothing(run_module, ns):
    links = ns.links()
    res = bridge(run_module, ns, fail=True, addresses=['10.244.1.0/24'])
    assert 'network address' in res['msg']
    res = bridge(run_module, ns, fail=True, addresses=[GW4], mtu=20)
    assert 'mtu' in res['msg']
    assert ns.links() == links


def test_prefix_length_change(run_module, ns):
    bridge(run_module, ns, addresses=['10.244.1.1/16', GW6])
    res = bridge(run_module, ns, addresses=[GW4, 'fd00:10:244:1::1/56'])
    assert res['actions'] == ['addr_del 10.244.1.1/16', 'addr_del %s' % GW6, 'addr_add %s' % GW4,
                              'addr_add fd00:10:244:1::1/56']
    assert_bridge(ns, [GW4, 'fd00:10:244:1::1/56'])
