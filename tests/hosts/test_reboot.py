# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reboot, for real (issue 10 item 4): `podman restart` a converged systemd host, run NO Ansible, and read
back what hostgw-restore.service brought back before kubelet and containerd started.

The first host is rebooted once (module fixture); the second host is rebooted with a foreign route on a
wanted destination planted at boot by a unit ordered before hostgw-restore.service.
"""

import time

import pytest

from conftest import recap

FOREIGN_UNIT = 'hostgw-test-foreign-route.service'


@pytest.fixture(scope='module')
def rebooted(hosts):
    """Reboot hosts[0]; the state before and after, read from its kernel."""
    host = hosts[0]
    before = host.state()
    # What the state is made of must be there before, or comparing after with before proves nothing.
    assert len(before['routes']) == len(hosts) - 1, before
    assert before['bridge'] and before['ip_forward'] == '1' and before['firewall'], before
    boots = host.reboot()
    return {'host': host, 'before': before, 'after': host.state(), 'boots': boots}


def test_reboot_is_real(rebooted):
    host = rebooted['host']
    boot_before, boot_after = rebooted['boots'][:2]
    assert boot_after > boot_before
    # systemd (PID 1) started again in this boot, after the container's new start.
    assert host.out('cat', '/proc/1/comm') == 'systemd'
    # A fresh network namespace starts without forwarding: the restore had to set it.
    host.sh('ip', 'netns', 'add', 'hostgw-probe')
    try:
        fresh = host.out('ip', 'netns', 'exec', 'hostgw-probe', 'cat', '/proc/sys/net/ipv4/ip_forward')
    finally:
        host.sh('ip', 'netns', 'delete', 'hostgw-probe')
    print('ip_forward of a fresh netns on %s: %s' % (host, fresh))


def test_bridge_routes_forwarding_and_masquerade_are_back(rebooted):
    before, after = rebooted['before'], rebooted['after']
    assert after['routes'] == before['routes']
    assert after['bridge'] == before['bridge']
    assert after['ip_forward'] == '1'
    assert after['firewall'] == before['firewall']
    assert any('masq' in line.lower() for line in after['firewall']), after['firewall']


def test_restore_unit_succeeded_in_this_boot(rebooted):
    host = rebooted['host']
    proc = host.sh('systemctl', 'is-failed', 'hostgw-restore.service', check=False)
    assert proc.returncode != 0 and proc.stdout.strip() == 'active', proc.stdout
    unit = host.show('hostgw-restore.service', 'Result', 'ExecMainStatus', 'InactiveExitTimestampMonotonic')
    boot = host.out('systemctl', 'show', '-p', 'UserspaceTimestampMonotonic', '--value')
    assert unit['Result'] == 'success' and unit['ExecMainStatus'] == '0', unit
    # It ran in this boot: started after PID 1 of this boot started (CLOCK_MONOTONIC is the machine's).
    assert int(unit['InactiveExitTimestampMonotonic']) >= int(boot) > 0, (unit, boot)


@pytest.mark.parametrize('service', ['kubelet.service', 'containerd.service'])
def test_restore_ran_before(rebooted, service):
    host = rebooted['host']
    assert service in host.show('hostgw-restore.service', 'Before')['Before'].split()
    restore = host.show('hostgw-restore.service', 'ActiveEnterTimestampMonotonic')
    other = host.show(service, 'ActiveState', 'InactiveExitTimestampMonotonic')
    assert other['ActiveState'] == 'active', other
    # The stand-in started only after the restore had finished (a oneshot is active once it exited).
    assert 0 < int(restore['ActiveEnterTimestampMonotonic']) <= int(other['InactiveExitTimestampMonotonic']), \
        (restore, other)


def test_pods_reattached_reach_pods_on_other_hosts(rebooted, hosts):
    host = rebooted['host']
    # The pods of verify-ssh.yml died with the reboot (their namespaces were in /run).
    assert 'p1' not in host.out('ip', 'netns', 'list').split(), host.out('ip', 'netns', 'list')
    # A new sandbox as kubelet makes after a reboot: a new container id (host-local keeps old reservations).
    pod = 'rb-%d' % (time.time() * 1000 % 10 ** 9)
    got = host.pod_add(pod)
    ip = got[pod]['ip4']
    prefix = rebooted['after']['bridge'][0].rsplit('.', 1)[0] + '.'
    assert ip.startswith(prefix), (got, rebooted['after']['bridge'])
    peers = [h for h in hosts if h is not host]
    remote = {p: p.ensure_pod('p1') for p in peers}
    answers = host.pod_ping(pod, *remote.values())
    assert len(answers) == len(peers) and all(answers.values()), answers
    for peer in peers:
        back = peer.pod_ping('p1', ip)
        assert back == {ip: True}, (peer, back)


def test_check_mode_after_reboot_reports_nothing_changed(rebooted, hosts, ansible):
    proc = ansible('--check', 'playbooks/site.yml')
    counts = recap(proc.stdout)
    assert sorted(counts) == sorted(h.name for h in hosts), proc.stdout[-2000:]
    for name, c in counts.items():
        assert c['changed'] == 0 and c['failed'] == 0 and c['unreachable'] == 0, (name, c, proc.stdout[-3000:])


def _restore_is_shell(host):
    return '/bin/sh' in host.show('hostgw-restore.service', 'ExecStart')['ExecStart'] and \
        'hostgw-restore.sh' in host.show('hostgw-restore.service', 'ExecStart')['ExecStart']


def test_foreign_route_is_kept_and_the_unit_fails_naming_it(hosts, ansible, request):
    host, owner = hosts[1], hosts[2]
    if _restore_is_shell(host):
        request.applymarker(pytest.mark.xfail(
            strict=True, reason="today's shell restore hides errors (ip -batch -force 2>/dev/null || true; exit 0); "
                                "the Python restore (lead's 'restore:' commits) fails naming the route"))
    wanted = [r for r in host.owned_routes() if r[1] == owner.ip]
    assert len(wanted) == 1, host.owned_routes()
    dst = wanted[0][0]
    unit = '''[Unit]
Description=hostgw test: another tool owns the route to %(dst)s
DefaultDependencies=no
Before=hostgw-restore.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=ip route add %(dst)s dev eth0 proto static

[Install]
WantedBy=multi-user.target
''' % {'dst': dst}
    host.sh('sh', '-c', 'cat > /etc/systemd/system/%s' % FOREIGN_UNIT + " <<'EOF'\n" + unit + 'EOF\n')
    host.sh('systemctl', 'daemon-reload')
    host.sh('systemctl', 'enable', FOREIGN_UNIT)
    try:
        since = host.reboot()[2]
        # The foreign unit ran first and its route is there, untouched.
        assert host.show(FOREIGN_UNIT, 'ActiveState')['ActiveState'] == 'active'
        routes = host.routes_to(dst)
        assert len(routes) == 1, routes
        assert routes[0].get('protocol') == 'static' and 'gateway' not in routes[0], routes
        # Everything else came back.
        assert len([r for r in host.owned_routes() if r[0] != dst]) == len(hosts) - 2
        assert host.bridge_addrs()
        # The unit failed and its journal names the route.
        proc = host.sh('systemctl', 'is-failed', 'hostgw-restore.service', check=False)
        journal = host.journal('hostgw-restore.service', since)
        print(journal)
        assert proc.returncode == 0 and proc.stdout.strip() == 'failed', (proc.stdout, journal)
        assert dst in journal, journal
    finally:
        # Hand the destination back to hostgw: no foreign unit, no foreign route, restore again.
        host.sh('systemctl', 'disable', '--now', FOREIGN_UNIT, check=False)
        host.sh('rm', '-f', '/etc/systemd/system/' + FOREIGN_UNIT)
        host.sh('systemctl', 'daemon-reload')
        host.sh('ip', 'route', 'del', dst, 'proto', 'static', check=False)
        host.sh('systemctl', 'reset-failed', 'hostgw-restore.service', check=False)
        host.sh('systemctl', 'restart', 'hostgw-restore.service', check=False)
    assert host.sh('systemctl', 'is-failed', 'hostgw-restore.service', check=False).stdout.strip() == 'active'
    assert (dst, owner.ip, 'eth0') in host.owned_routes()
    proc = ansible('--check', 'playbooks/site.yml')
    assert all(c['changed'] == 0 and c['failed'] == 0 for c in recap(proc.stdout).values()), proc.stdout[-3000:]
