# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The boot restore, installed by hostgw_restore from what the modules returned, run as the boot unit runs it
(the target's Python, no Ansible, no PYTHONPATH) inside a node namespace after a simulated reboot."""

from __future__ import annotations

import json
import os
import re

import pytest

OWNED = '244'


def converge(run_module, node, mesh, state_dir, mode):
    run_module(node, 'hostgw_firewall', dict(network='192.168.0.0/16', subnet=node.pod4, forwarding=True))
    br = run_module(node, 'cni_bridge', dict(addresses=[node.gw4 + '/24']))
    rt = run_module(node, 'hostgw_route', dict(routes=mesh.routes(), dev='eth0', nexthop_objects=mode))
    assert rt['nexthop_objects'] is (mode == 'true')
    res = run_module(node, 'hostgw_restore', dict(
        state_dir=state_dir, bridge=br['boot_state'], routes=rt['boot_state'], sysctls={'net.ipv4.ip_forward': 1},
        firewall=dict(network='192.168.0.0/16', subnet=node.pod4)))
    return res


def program(node, res, *extra, check=False):
    python, prog, state = res['command']
    env_free = ['env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin']   # no PYTHONPATH: the vendored copy alone
    return node.exec(*(env_free + [python, prog] + list(extra) + [state]), check=check)


def reboot(node):
    """What a reboot leaves of hostgw's state: nothing in the kernel (the files stay)."""
    node.ip('link', 'del', 'cni0')
    node.ip('nexthop', 'flush')
    node.ip('route', 'flush', 'proto', OWNED)
    node.exec('iptables', '-w', '-t', 'nat', '-F')
    node.exec('iptables', '-w', '-t', 'nat', '-X')
    node.exec('iptables', '-w', '-F')
    node.exec('iptables', '-w', '-X')
    node.exec('nft', 'delete', 'table', 'ip', 'hostgw', check=False)
    node.sysctl('net.ipv4.ip_forward', 0)


@pytest.fixture(params=['false', 'true'], ids=['via-routes', 'nexthop-objects'])
def mode(request):
    return request.param


@pytest.fixture
def node_and_state(run_module, mesh_factory, tmp_path, mode):
    mesh = mesh_factory(3)
    node = mesh.nodes[0]
    state_dir = str(tmp_path / 'state')
    res = converge(run_module, node, mesh, state_dir, mode)
    return mesh, node, state_dir, res


def route_re(text):
    """A restore line about a route, in either mode ('nhid N ' before 'via' with next-hop objects)."""
    dest, rest = text.split(' via ', 1)
    return re.compile(re.escape(dest) + r' (nhid \d+ )?via ' + re.escape(rest) + r'$', re.M)


def snapshot(node):
    return dict(link=node.link('cni0') and {k: node.link('cni0').get(k) for k in ('ifalias', 'mtu', 'operstate')},
                addrs=node.cidrs('cni0') if node.link('cni0') else None,
                owned=sorted((r['dst'], r.get('gateway'), r.get('dev'), bool(r.get('nhid'))) for r in node.owned()),
                nat=node.exec('iptables', '-w', '-t', 'nat', '-S').stdout,
                fwd=node.exec('iptables', '-w', '-S').stdout,
                nft=node.exec('nft', 'list', 'table', 'ip', 'hostgw', check=False).stdout,
                forwarding=node.exec('sysctl', '-n', 'net.ipv4.ip_forward').stdout.strip())


def res_mode(node):
    return any(r.get('nhid') for r in node.owned())


def test_install_writes_program_state_and_manifest(node_and_state):
    _mesh, _node, state_dir, res = node_and_state
    assert res['changed'] is True
    state = json.load(open(os.path.join(state_dir, 'restore.json')))
    assert state['schema'] == 1 and state['bridge']['addresses'] == ['192.168.1.1/24']
    assert [r['dest'] for r in state['routes']['routes']] == ['192.168.2.0/24', '192.168.3.0/24']   # own subnet skipped
    manifest = json.load(open(os.path.join(state_dir, 'manifest.json')))
    assert os.path.join(state_dir, 'restore', 'hostgw-restore') in manifest['files']
    assert state_dir in manifest['dirs']
    assert oct(os.stat(os.path.join(state_dir, 'restore.json')).st_mode & 0o777) == '0o600'


def test_reboot_brings_everything_back(run_module, node_and_state):
    mesh, node, state_dir, res = node_and_state
    before = snapshot(node)
    reboot(node)
    assert snapshot(node) != before
    p = program(node, res)
    assert p.returncode == 0, p.stdout + p.stderr
    assert snapshot(node) == before, p.stdout
    assert 'hostgw-restore: changed: bridge cni0: create' in p.stdout
    assert route_re('hostgw-restore: changed: route add 192.168.2.0/24 via 10.168.0.2 dev eth0 proto 244').search(p.stdout)
    assert p.stdout.splitlines()[-1].endswith(', 0 failed')
    # A second run and a check run find nothing to do; the modules agree (check mode: changed false).
    again = program(node, res)
    assert again.returncode == 0 and again.stdout.splitlines()[-1] == 'hostgw-restore: 0 changed, 0 failed'
    assert program(node, res, '--check').returncode == 0
    assert run_module(node, 'cni_bridge', dict(addresses=[node.gw4 + '/24']), check_mode=True)['changed'] is False
    mode = 'true' if res_mode(node) else 'false'
    assert run_module(node, 'hostgw_route', dict(routes=mesh.routes(), dev='eth0', nexthop_objects=mode),
                      check_mode=True)['changed'] is False


def test_missing_route_and_address_come_back(node_and_state):
    _mesh, node, _state_dir, res = node_and_state
    before = snapshot(node)
    node.ip('route', 'del', '192.168.3.0/24')
    node.ip('addr', 'flush', 'dev', 'cni0')
    chk = program(node, res, '--check')
    assert chk.returncode == 3, chk.stdout     # something would change; check changed nothing
    assert snapshot(node) != before
    p = program(node, res)
    assert p.returncode == 0, p.stdout
    assert 'changed: bridge cni0: addr_add 192.168.1.1/24' in p.stdout
    assert route_re('changed: route add 192.168.3.0/24 via 10.168.0.3 dev eth0 proto 244').search(p.stdout)
    assert snapshot(node) == before


def test_foreign_route_on_a_wanted_destination_stays_and_is_reported(node_and_state):
    _mesh, node, _state_dir, res = node_and_state
    reboot(node)
    node.ip('route', 'add', '192.168.2.0/24', 'via', '10.168.0.9', 'dev', 'eth0', 'proto', 'static')
    foreign = node.routes()
    p = program(node, res)
    assert p.returncode == 1, p.stdout
    failed = [x for x in p.stdout.splitlines() if 'FAILED' in x]
    assert len(failed) == 1, p.stdout
    assert ('destination 192.168.2.0/24 is held by a route hostgw does not own (192.168.2.0/24 via 10.168.0.9 dev eth0 '
            'proto 4' in failed[0] and 'left as it is' in failed[0]), failed
    mine = [r for r in node.routes() if r['dst'] == '192.168.2.0/24']
    assert [(r.get('gateway'), r.get('protocol')) for r in mine] == [('10.168.0.9', 'static')]
    # Everything else came back all the same.
    assert route_re('changed: route add 192.168.3.0/24 via 10.168.0.3 dev eth0 proto 244').search(p.stdout)
    assert node.link('cni0') is not None and node.cidrs('cni0') == ['192.168.1.1/24']
    assert [r for r in foreign if r['dst'] == '192.168.2.0/24'] == mine


def test_foreign_link_named_like_the_bridge_is_left_alone(node_and_state):
    _mesh, node, _state_dir, res = node_and_state
    reboot(node)
    node.ip('link', 'add', 'cni0', 'type', 'bridge')
    node.ip('addr', 'add', '10.99.0.1/24', 'dev', 'cni0')
    p = program(node, res)
    assert p.returncode == 1
    assert any('bridge cni0: a link of that name exists that hostgw does not own' in x for x in p.stdout.splitlines()
               if 'FAILED' in x), p.stdout
    assert node.cidrs('cni0') == ['10.99.0.1/24'] and not node.link('cni0').get('ifalias')


def test_unit_files_and_repair_timer(run_module, mesh_factory, tmp_path):
    mesh = mesh_factory(2)
    node = mesh.nodes[0]
    units = tmp_path / 'units'
    state_dir = str(tmp_path / 'state')
    rt = run_module(node, 'hostgw_route', dict(routes=mesh.routes(), dev='eth0', nexthop_objects='false'))
    args = dict(state_dir=state_dir, routes=rt['boot_state'], unit_dir=str(units), repair_interval='30s')
    res = run_module(node, 'hostgw_restore', args)
    assert res['units'] == ['hostgw-repair.service', 'hostgw-repair.timer', 'hostgw-restore.service']
    unit = (units / 'hostgw-restore.service').read_text()
    assert 'Before=kubelet.service containerd.service crio.service docker.service' in unit
    assert 'ExecStart=%s' % ' '.join(res['command']) in unit
    assert 'OnUnitActiveSec=30s' in (units / 'hostgw-repair.timer').read_text()
    assert run_module(node, 'hostgw_restore', args)['changed'] is False
    # Timer switched off: hostgw's repair units go, the restore unit stays.
    args['repair_interval'] = ''
    off = run_module(node, 'hostgw_restore', args)
    assert off['changed'] is True and sorted(os.listdir(str(units))) == ['hostgw-restore.service']
    # A bad interval or a path that would need quoting in a unit is refused naming it.
    bad = run_module(node, 'hostgw_restore', dict(args, repair_interval='5 minutes; rm'), fail=True)
    assert "repair_interval '5 minutes; rm' is not a systemd time span" in bad['msg']
    bad = run_module(node, 'hostgw_restore', dict(args, state_dir='/etc/host gw'), fail=True)
    assert "state_dir '/etc/host gw'" in bad['msg']


def test_files_with_boot_installs_what_hostgw_restore_installs_in_one_call(run_module, mesh_factory, tmp_path):
    """The role's one task per node for files and boot restore: the same bytes as hostgw_restore, the same manifest
    entries, the repair units removed the same way, and a bad boot value refused before any file is written."""
    mesh = mesh_factory(2)
    node = mesh.nodes[0]
    rt = run_module(node, 'hostgw_route', dict(routes=mesh.routes(), dev='eth0', nexthop_objects='false'))
    boot = dict(routes=rt['boot_state'], sysctls={'net.ipv4.ip_forward': 1}, repair_interval='30s')
    trees = {}
    for how in ('restore', 'files'):
        state_dir = tmp_path / how
        units = tmp_path / (how + '-units')
        args = dict(boot, state_dir=str(state_dir), unit_dir=str(units))
        env = str(state_dir / 'subnet.env')
        manifest = str(state_dir / 'manifest.json')
        if how == 'restore':
            res = run_module(node, 'hostgw_restore', dict(args, manifest=manifest))
            run_module(node, 'hostgw_files', dict(manifest=manifest, files=[dict(path=env, content='X=1\n')]))
        else:
            res = run_module(node, 'hostgw_files', dict(manifest=manifest, files=[dict(path=env, content='X=1\n')], boot=args))
            assert sorted(res['boot']['changed_files']) == sorted(x for x in res['changed_files'] if x != env)
            assert res['boot']['units'] == ['hostgw-repair.service', 'hostgw-repair.timer', 'hostgw-restore.service']
            res = res['boot']
        assert 'OnUnitActiveSec=30s' in (units / 'hostgw-repair.timer').read_text()

        def anon(text, units=units, state_dir=state_dir):
            return text.replace(str(units), '@U').replace(str(state_dir), '@S')
        trees[how] = dict((anon(str(p)), anon(p.read_text())) for p in sorted(list(state_dir.rglob('*')) + list(units.rglob('*')))
                          if p.is_file() and p.name != 'manifest.json')
        trees[how]['command'] = [anon(x) for x in res['command']]
        manifest_doc = json.loads((state_dir / 'manifest.json').read_text())
        trees[how]['manifest'] = sorted(anon(x) for x in manifest_doc['files'])
    assert trees['files'] == trees['restore']
    state_dir, units = tmp_path / 'files', tmp_path / 'files-units'
    manifest = str(state_dir / 'manifest.json')
    args = dict(boot, state_dir=str(state_dir), unit_dir=str(units))
    again = run_module(node, 'hostgw_files', dict(manifest=manifest, files=[dict(path=str(state_dir / 'subnet.env'), content='X=1\n')],
                                                  boot=args))
    assert again['changed'] is False and again['boot']['changed_files'] == []
    # The timer switched off: its units go (and leave the manifest), the restore unit stays.
    off = run_module(node, 'hostgw_files', dict(manifest=manifest, boot=dict(args, repair_interval='')))
    assert sorted(off['boot']['changed_files']) == [str(units / 'hostgw-repair.service'), str(units / 'hostgw-repair.timer')]
    assert sorted(os.listdir(str(units))) == ['hostgw-restore.service']
    assert not [x for x in json.loads(open(manifest).read())['files'] if 'hostgw-repair' in x]
    # A bad boot value: refused naming it, and the file given with it is not written.
    new_file = str(state_dir / 'other.env')
    bad = run_module(node, 'hostgw_files', dict(manifest=manifest, files=[dict(path=new_file, content='Y=1\n')],
                                                boot=dict(args, repair_interval='5 minutes; rm')), fail=True)
    assert "repair_interval '5 minutes; rm' is not a systemd time span" in bad['msg'] and not os.path.exists(new_file)
    bad = run_module(node, 'hostgw_files', dict(manifest=manifest, files=[dict(path=new_file, content='Y=1\n')],
                                                boot=dict(args, sysctl={'x': 1})), fail=True)
    assert bad['msg'].startswith('boot: ') and 'sysctl' in bad['msg'] and not os.path.exists(new_file)
