# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Drift repair without a daemon (issue 10 item 5): with hostgw_repair_interval the role installs
hostgw-repair.timer; delete one of hostgw's routes and the bridge's gateway address, run NO Ansible, and see
both back within the interval, with the journal naming what was repaired. Skipped cleanly when the role in
this checkout has no hostgw_repair_interval."""

import os
import time

import pytest

from conftest import REPO, recap, wait_for

INTERVAL = 10  # seconds; the timer's AccuracySec is 1s


def _role_has_repair():
    with open(os.path.join(REPO, 'roles', 'hostgw', 'meta', 'argument_specs.yml')) as f:
        return 'hostgw_repair_interval:' in f.read()


pytestmark = pytest.mark.skipif(not _role_has_repair(),
                                reason='the role in this checkout has no hostgw_repair_interval yet (issue 10 item 5)')


@pytest.fixture(scope='module')
def repairing(hosts, ansible):
    proc = ansible('playbooks/site.yml', '-e', 'hostgw_repair_interval=%ds' % INTERVAL)
    assert all(c['failed'] == 0 for c in recap(proc.stdout).values()), proc.stdout[-3000:]
    yield hosts[-1]
    # Back to the default (no timer) for whatever runs next on this lab.
    proc = ansible('playbooks/site.yml')
    assert all(c['failed'] == 0 for c in recap(proc.stdout).values()), proc.stdout[-3000:]
    for h in hosts:
        assert h.sh('systemctl', 'is-enabled', 'hostgw-repair.timer', check=False).returncode != 0, \
            '%s: hostgw-repair.timer still enabled with hostgw_repair_interval empty' % h


def test_timer_installed(repairing, hosts):
    for h in hosts:
        assert h.out('systemctl', 'is-active', 'hostgw-repair.timer') == 'active', h
        assert h.show('hostgw-repair.timer', 'AccuracyUSec')['AccuracyUSec'] in ('1s', '1000000'), h


def test_deleted_route_and_address_come_back_within_the_interval(repairing):
    host = repairing
    route = host.owned_routes()[0]
    addr = host.bridge_addrs()[0]
    since = int(host.out('date', '+%s'))
    host.sh('ip', 'route', 'del', route[0], 'proto', '244')
    host.sh('ip', 'addr', 'del', addr, 'dev', 'cni0')
    t0 = time.monotonic()
    # Gone now, or the test proves nothing.
    assert route not in host.owned_routes() and addr not in host.bridge_addrs()
    back = wait_for(lambda: route in host.owned_routes() and addr in host.bridge_addrs(), timeout=INTERVAL + 15,
                    step=0.5)
    took = time.monotonic() - t0
    print('repaired %s and %s on %s in %.1f s (interval %d s)' % (route[0], addr, host, took, INTERVAL))
    assert back, 'not repaired within %d s: routes %s, bridge %s' % (INTERVAL + 15, host.owned_routes(),
                                                                     host.bridge_addrs())
    assert took <= INTERVAL + 5, took

    def repaired():
        j = host.journal('hostgw-repair.service', since)
        return j if route[0] in j and addr.split('/')[0] in j else ''
    journal = wait_for(repaired, timeout=10)
    assert journal, host.journal('hostgw-repair.service', since)
    print(journal)


def test_repair_leaves_a_foreign_route_and_fails_naming_it(repairing, hosts):
    host = repairing
    route = host.owned_routes()[0]
    dst = route[0]
    host.sh('ip', 'route', 'del', dst, 'proto', '244')
    host.sh('ip', 'route', 'add', dst, 'dev', 'eth0', 'proto', 'static')
    since = int(host.out('date', '+%s'))
    try:
        def reported():
            j = host.journal('hostgw-repair.service', since)
            return j if 'FAILED' in j and dst in j else ''
        journal = wait_for(reported, timeout=INTERVAL + 15, step=1)
        assert journal, host.journal('hostgw-repair.service', since)
        routes = host.routes_to(dst)
        assert len(routes) == 1 and routes[0].get('protocol') == 'static', routes
    finally:
        host.sh('ip', 'route', 'del', dst, 'proto', 'static', check=False)
    assert wait_for(lambda: route in host.owned_routes(), timeout=INTERVAL + 15, step=0.5), host.owned_routes()
