# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kernel-backed tests: the real modules run inside network namespaces created by the tests.

Every test gets its own namespaces, named ``hgwk-<pid>-<n>`` and deleted in the fixture teardown
(also when the test fails). Namespaces are connected to each other only (veth pairs whose ends are
both in test namespaces); nothing is created in, or connected to, the host's own namespace, and no
default route is ever added.

Environment:

``HOSTGW_REPO``
    Repository root of the collection under test (default: two levels up from this file).
``HOSTGW_TEST_PYTHONS``
    Interpreters that run the modules, separated by ``:``, ``,`` or whitespace (default: the
    repo's ``.venv/bin/python`` and ``.venv-deb/bin/python`` that exist). Each needs
    ansible-core and pyroute2; a requested interpreter that is missing makes its tests fail.

Needs root; without it the whole directory is skipped.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.environ.get('HOSTGW_REPO') or os.path.join(HERE, '..', '..'))
PREFIX = 'hgwk-%d-' % os.getpid()
_COUNTER = itertools.count(1)
_PROBE = ('import importlib.metadata as m, sys; '
          'print(json.dumps([m.version("pyroute2"), m.version("ansible-core"), sys.version.split()[0]]))')


class Interp:
    """One Python interpreter that runs the modules, with its pyroute2 version (or why it is unusable)."""

    def __init__(self, path):
        self.path = path
        self.pyroute2 = None
        self.error = None
        if not os.path.isfile(path) or not os.access(path, os.X_OK):
            self.error = 'requested interpreter %s does not exist or is not executable' % path
            self.id = 'missing-%s' % re.sub(r'[^A-Za-z0-9_.-]+', '_', path.strip('/'))
            return
        p = subprocess.run([path, '-c', 'import json; ' + _PROBE], capture_output=True, text=True, timeout=60, check=False)
        if p.returncode != 0:
            self.error = 'interpreter %s cannot report pyroute2 and ansible-core versions: %s' % (path, p.stderr.strip()[-500:])
            self.id = 'broken-%s' % re.sub(r'[^A-Za-z0-9_.-]+', '_', path.strip('/'))
            return
        self.pyroute2, self.ansible, self.pyversion = json.loads(p.stdout)
        self.id = 'pyroute2-%s' % self.pyroute2

    def __repr__(self):
        return '<Interp %s %s>' % (self.path, self.id)


def requested_pythons():
    env = os.environ.get('HOSTGW_TEST_PYTHONS', '').strip()
    if env:
        return [p for p in re.split(r'[\s,:]+', env) if p]
    found = [p for p in (os.path.join(REPO, '.venv', 'bin', 'python'), os.path.join(REPO, '.venv-deb', 'bin', 'python'))
             if os.path.exists(p)]
    # Nothing found: report the default one as missing rather than run nothing.
    return found or [os.path.join(REPO, '.venv', 'bin', 'python')]


_INTERPS = None


def interps():
    global _INTERPS  # pylint: disable=global-statement
    if _INTERPS is None:
        _INTERPS = [Interp(p) for p in requested_pythons()]
        seen = {}
        for it in _INTERPS:  # unique ids even for two interpreters with the same pyroute2
            n = seen.get(it.id, 0)
            seen[it.id] = n + 1
            if n:
                it.id = '%s-%d' % (it.id, n + 1)
    return _INTERPS


def pytest_report_header(config):
    lines = ['hostgw kernel tests: repo %s, namespace prefix %s' % (REPO, PREFIX)]
    for it in interps():
        lines.append('  %s: %s%s' % (it.id, it.path, ' (%s)' % it.error if it.error else
                                     ' (python %s, ansible-core %s)' % (it.pyversion, it.ansible)))
    return lines


def pytest_generate_tests(metafunc):
    if 'interp' in metafunc.fixturenames:
        its = interps()
        metafunc.parametrize('interp', its, ids=[it.id for it in its], indirect=True)


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason='kernel tests create network namespaces and need root (CAP_SYS_ADMIN, CAP_NET_ADMIN)')
        for item in items:
            if str(item.path).startswith(HERE):
                item.add_marker(skip)


@pytest.fixture
def interp(request):
    it = request.param
    if it.error:
        pytest.fail(it.error)
    return it


@pytest.fixture(scope='session')
def collections_path(tmp_path_factory):
    """A collections root whose ansible_collections/hostgw/network points at REPO."""
    root = tmp_path_factory.mktemp('collections')
    ns = root / 'ansible_collections' / 'hostgw'
    ns.mkdir(parents=True)
    (ns / 'network').symlink_to(REPO)
    return str(root)


# ---- namespaces ----------------------------------------------------------------------------------

def sh(*cmd, check=True, timeout=30):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, check=False)
    if check and p.returncode != 0:
        raise AssertionError('command failed (%d): %s\n%s%s' % (p.returncode, ' '.join(str(c) for c in cmd), p.stdout, p.stderr))
    return p


def _scrub(value):
    """Drop the fields of ``ip -j -d`` output that change by themselves (bridge timers)."""
    if isinstance(value, dict):
        return dict((k, _scrub(v)) for k, v in value.items() if not k.endswith('_timer'))
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


class Netns:
    """A network namespace created for one test."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return '<Netns %s>' % self.name

    def ip(self, *args, check=True):
        return sh('ip', '-n', self.name, *args, check=check)

    def ipj(self, *args):
        out = self.ip('-j', *args).stdout.strip()
        return json.loads(out) if out else []

    def exec(self, *cmd, check=True, timeout=30):
        return sh('ip', 'netns', 'exec', self.name, *cmd, check=check, timeout=timeout)

    def sysctl(self, key, value):
        self.exec('sysctl', '-q', '-w', '%s=%s' % (key, value))

    # readers of kernel state, through iproute2's JSON output
    def link(self, name):
        """``ip -j -d link show NAME`` as a dict, or None when there is no such link."""
        p = self.ip('-j', '-d', 'link', 'show', 'dev', name, check=False)
        if p.returncode != 0:
            return None
        return _scrub(json.loads(p.stdout)[0])

    def links(self):
        return _scrub(self.ipj('-d', 'link', 'show'))

    def addrs(self, dev, family=None):
        """Addresses of DEV as ``ip -j addr`` entries (list of addr_info dicts)."""
        data = self.ipj('addr', 'show', 'dev', dev)
        out = data[0]['addr_info'] if data else []
        if family:
            out = [a for a in out if a['family'] == family]
        return out

    def cidrs(self, dev, family=None, link_local=False):
        return sorted('%s/%d' % (a['local'], a['prefixlen']) for a in self.addrs(dev, family)
                      if link_local or a.get('scope') != 'link')

    def routes(self, family=4, table='main'):
        return self.ipj('-%d' % family, 'route', 'show', 'table', table)

    def all_routes(self):
        """Every route of every table, both families (for 'nothing changed' comparisons)."""
        return {4: self.routes(4, 'all'), 6: self.routes(6, 'all')}

    def owned(self, family=4, proto='244'):
        return [r for r in self.routes(family) if str(r.get('protocol')) == str(proto)]


@pytest.fixture
def netns_factory():
    """``make()`` -> a fresh namespace with lo up. All are deleted at teardown, even on failure."""
    made = []

    def make():
        name = '%s%d' % (PREFIX, next(_COUNTER))
        sh('ip', 'netns', 'add', name)
        made.append(name)
        ns = Netns(name)
        ns.ip('link', 'set', 'lo', 'up')
        return ns

    yield make
    errors = []
    for name in reversed(made):
        p = sh('ip', 'netns', 'del', name, check=False)
        if p.returncode != 0:
            errors.append('%s: %s' % (name, p.stderr.strip()))
    if errors:
        raise AssertionError('could not delete test namespaces: %s' % '; '.join(errors))


@pytest.fixture(scope='session', autouse=True)
def _leftover_namespaces():
    yield
    for name in os.listdir('/run/netns') if os.path.isdir('/run/netns') else []:
        if name.startswith(PREFIX):
            sh('ip', 'netns', 'del', name, check=False)


@pytest.fixture
def ns(netns_factory):
    """A namespace with IPv6 DAD on but slow (60 probes, a minute): an address added without
    NODAD stays tentative for the whole test instead of flipping state half-way through it."""
    n = netns_factory()
    n.sysctl('net.ipv6.conf.default.accept_dad', 1)
    n.sysctl('net.ipv6.conf.default.dad_transmits', 60)
    return n


class Node:
    """A 'host' of the mesh: a namespace whose eth0 is a port of the segment bridge."""

    def __init__(self, netns, i):
        self.netns = netns
        self.i = i
        self.host = 'node%d' % i
        self.ip4 = '10.168.0.%d' % i
        self.ip6 = 'fd00:168::%d' % i
        self.pod4 = '192.168.%d.0/24' % i
        self.gw4 = '192.168.%d.1' % i
        self.pod6 = 'fd00:244:%d::/64' % i
        self.gw6 = 'fd00:244:%d::1' % i

    def __getattr__(self, attr):
        return getattr(self.netns, attr)

    def __repr__(self):
        return '<Node %s in %s>' % (self.host, self.netns.name)


class Mesh:
    def __init__(self, segment, nodes):
        self.segment = segment
        self.nodes = nodes

    def routes(self, v6=False, without=()):
        """The same full-mesh routes list for every node (each node skips its own entry)."""
        out = []
        for n in self.nodes:
            if n.i in without:
                continue
            out.append(dict(dest=n.pod4, via=n.ip4, host=n.host))
            if v6:
                out.append(dict(dest=n.pod6, via=n.ip6, host=n.host))
        return out


@pytest.fixture
def mesh_factory(netns_factory):
    """``make(n)``: a segment namespace with bridge br0 and n node namespaces, each with eth0
    (10.168.0.i/24, fd00:168::i/64) plugged into br0 through a veth pair."""

    def make(count=4):
        seg = netns_factory()
        seg.ip('link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0')
        seg.ip('link', 'set', 'br0', 'up')
        nodes = []
        for i in range(1, count + 1):
            n = Node(netns_factory(), i)
            # No DAD on the nodes: link-local addresses (and their local routes) appear at once,
            # so 'the routing tables did not change' comparisons do not race with the kernel.
            n.sysctl('net.ipv6.conf.all.accept_dad', 0)
            n.sysctl('net.ipv6.conf.default.accept_dad', 0)
            # Both ends are created inside test namespaces: the host namespace never sees them.
            seg.ip('link', 'add', 'p%d' % i, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.netns.name)
            seg.ip('link', 'set', 'p%d' % i, 'master', 'br0', 'up')
            n.ip('link', 'set', 'eth0', 'up')
            n.ip('addr', 'add', '%s/24' % n.ip4, 'dev', 'eth0')
            n.ip('addr', 'add', '%s/64' % n.ip6, 'dev', 'eth0', 'nodad')
            nodes.append(n)
        return Mesh(seg, nodes)

    return make


def bridge_and_pod(netns_factory, node, gw4, gw6, pod4, pod6, routes4=(), routes6=()):
    """A node's bridge cni0 with gateways ``gw4``/``gw6`` (CIDR) and one "pod" namespace behind it (a veth into
    cni0) with ``pod4``/``pod6`` (CIDR) and routes to ``routes4``/``routes6`` via the gateways (never a default route).
    Returns the pod's namespace."""
    node.ip('link', 'add', 'cni0', 'type', 'bridge')
    node.ip('addr', 'add', gw4, 'dev', 'cni0')
    node.ip('addr', 'add', gw6, 'dev', 'cni0', 'nodad')
    node.ip('link', 'set', 'cni0', 'up')
    pod = netns_factory()
    node.ip('link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod.name)
    node.ip('link', 'set', 'veth0', 'master', 'cni0', 'up')
    pod.ip('link', 'set', 'eth0', 'up')
    pod.ip('addr', 'add', pod4, 'dev', 'eth0')
    pod.ip('addr', 'add', pod6, 'dev', 'eth0', 'nodad')
    for dest in routes4:
        pod.ip('route', 'add', dest, 'via', gw4.split('/')[0])
    for dest in routes6:
        pod.ip('-6', 'route', 'add', dest, 'via', gw6.split('/')[0])
    return pod


@pytest.fixture
def mesh(mesh_factory):
    return mesh_factory(4)


# ---- running modules -----------------------------------------------------------------------------

class ModuleRunner:
    def __init__(self, interp, collections_path, tmpdir, extra_pythonpath=()):
        self.interp = interp
        self.pythonpath = os.pathsep.join(list(extra_pythonpath) + [collections_path])
        self.tmpdir = tmpdir

    def __call__(self, netns, module, args, check_mode=False, diff=False, fail=False):
        """Run ``module`` with ``args`` inside ``netns``; return its parsed JSON result.

        ``fail``: the run is expected to fail (exit 1, failed=true); otherwise it must succeed.
        """
        payload = {'ANSIBLE_MODULE_ARGS': dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)}
        fd, argsfile = tempfile.mkstemp(prefix='args-', suffix='.json', dir=self.tmpdir)
        with os.fdopen(fd, 'w') as f:
            json.dump(payload, f)
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('ANSIBLE_', 'PYTHON')))
        env.update(PYTHONPATH=self.pythonpath, LC_ALL='C.UTF-8', PYTHONDONTWRITEBYTECODE='1')
        path = os.path.join(REPO, 'plugins', 'modules', '%s.py' % module)
        p = subprocess.run(['ip', 'netns', 'exec', netns.name, self.interp.path, path, argsfile],
                           capture_output=True, text=True, env=env, timeout=120, check=False)
        try:
            result = json.loads(p.stdout)
        except ValueError:
            raise AssertionError('%s printed no JSON (rc %d)\nstdout: %s\nstderr: %s' % (module, p.returncode, p.stdout, p.stderr))
        result['_rc'] = p.returncode
        result['_stderr'] = p.stderr
        if fail:
            assert result.get('failed') is True and p.returncode == 1, 'expected %s to fail: %r' % (module, result)
        else:
            assert not result.get('failed') and p.returncode == 0, '%s failed: %s' % (module, result.get('msg', result))
        return result


@pytest.fixture
def run_module(interp, collections_path, tmp_path):
    return ModuleRunner(interp, collections_path, str(tmp_path))
