# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""NetworkManager (issue 10 item 6): where it is installed, the role's drop-in makes hostgw's bridge and the
pods' veths unmanaged, so NetworkManager does not take them over and strip the gateway (a known Flannel trap).

The trixie image runs NetworkManager with udev (scripts/images.sh); the bookworm image has none, and there the
role must not write the drop-in. The control step proves the test can fail: without the drop-in NetworkManager
takes cni0 over; the role's next run puts the drop-in back and cni0 is unmanaged again, with its gateway."""

import pytest

from conftest import NM_REASON_USER, recap, wait_for

DROPIN = '/etc/NetworkManager/conf.d/90-hostgw.conf'


def nm_installed(host):
    return host.has('NetworkManager')


def pod_veths(host):
    """The host ends of the pods' veths: ports of cni0."""
    return sorted(link['ifname'] for link in host.jsn('ip', '-json', 'link', 'show', 'master', 'cni0'))


@pytest.fixture(scope='module')
def nm_hosts(hosts, lab):
    with_nm = [h for h in hosts if nm_installed(h)]
    if 'ssh13' in lab['name']:
        # The trixie lab promises NetworkManager (scripts/images.sh): its absence is a failure, not a skip.
        assert with_nm == hosts, 'NetworkManager missing on %s' % [h for h in hosts if h not in with_nm]
    return with_nm


def test_no_dropin_without_networkmanager(hosts, nm_hosts):
    for h in hosts:
        if h in nm_hosts:
            continue
        assert h.sh('test', '-e', DROPIN, check=False).returncode != 0, '%s: %s written without NetworkManager' % (
            h, DROPIN)


def test_bridge_and_pod_veths_are_unmanaged(nm_hosts):
    if not nm_hosts:
        pytest.skip('no NetworkManager on this lab (bookworm image)')
    for h in nm_hosts:
        assert h.out('systemctl', 'is-active', 'NetworkManager') == 'active', h
        text = h.out('cat', DROPIN)
        assert 'unmanaged-devices=interface-name:cni0;interface-name:veth*' in text, (h, text)
        h.ensure_pod('p1')
        veths = pod_veths(h)
        assert veths, '%s: no pod attached to cni0' % h
        for dev in ['cni0'] + veths:
            state, reason = h.nm_state(dev)
            assert state.startswith('10 ') and reason.startswith(NM_REASON_USER + ' '), (h, dev, state, reason)


def test_networkmanager_restart_keeps_the_gateway_and_pods_talk(nm_hosts, hosts):
    if not nm_hosts:
        pytest.skip('no NetworkManager on this lab (bookworm image)')
    host = nm_hosts[0]
    before = host.bridge_addrs()
    assert before, host
    host.sh('systemctl', 'restart', 'NetworkManager')
    assert wait_for(lambda: host.sh('nmcli', '-t', 'general', 'status', check=False).returncode == 0, timeout=30)
    assert host.nm_state('cni0')[0].startswith('10 '), host.nm_state('cni0')
    assert host.bridge_addrs() == before
    ip = host.ensure_pod('p1')
    for peer in hosts:
        if peer is not host:
            assert peer.pod_ping('p1', ip) == {ip: True}, peer


def test_without_the_dropin_networkmanager_takes_the_bridge_and_the_role_gives_it_back(nm_hosts, hosts, ansible):
    if not nm_hosts:
        pytest.skip('no NetworkManager on this lab (bookworm image)')
    host = nm_hosts[-1]
    before = host.bridge_addrs()
    host.ensure_pod('p1')
    ports_before = pod_veths(host)
    host.sh('rm', '-f', DROPIN)
    host.sh('systemctl', 'reload', 'NetworkManager')
    # The control: without the drop-in NetworkManager manages cni0 (the state in which it strips addresses).
    taken = wait_for(lambda: not host.nm_state('cni0')[0].startswith('10 '), timeout=20, step=0.5)
    assert taken, 'NetworkManager did not take cni0 without the drop-in: this test proves nothing (%s)' % (
        host.nm_state('cni0'),)
    print('without the drop-in: cni0 %s, addresses %s, ports %s (before: %s, %s)' % (
        host.nm_state('cni0')[0], host.bridge_addrs(), pod_veths(host), before, ports_before))
    proc = ansible('playbooks/site.yml', '--limit', host.name)
    counts = recap(proc.stdout)
    assert counts[host.name]['failed'] == 0 and counts[host.name]['changed'] > 0, proc.stdout[-3000:]
    assert 'interface-name:cni0' in host.out('cat', DROPIN)
    back = wait_for(lambda: host.nm_state('cni0')[0].startswith('10 '), timeout=20, step=0.5)
    assert back, host.nm_state('cni0')
    assert host.nm_state('cni0')[1].startswith(NM_REASON_USER + ' ')
    assert host.bridge_addrs() == before
    # What NetworkManager did to the pods' veths meanwhile is the CNI plugin's to repair (kubelet recreates such
    # sandboxes): recreate the host's test pod as kubelet would, and the node is whole again for new pods.
    host.sh('python3', '/usr/local/bin/cni_pod.py', 'del', 'p1')
    ip = host.pod_add('p1')['p1']['ip4']
    for peer in hosts:
        if peer is not host:
            assert peer.pod_ping('p1', ip) == {ip: True}, peer
            assert host.pod_ping('p1', peer.ensure_pod('p1')) == {peer.ensure_pod('p1'): True}, peer
