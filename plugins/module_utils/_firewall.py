# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The firewall seam: every read and write of hostgw's packet-filter state goes through ``converge()``.

``converge(spec, runner, check_mode=False)`` is the one entry point, used by the ``hostgw_firewall`` module and by the
boot restore. ``spec`` is a JSON-able dict equal to the module's parameters (``network``, ``subnet``, ``network6``,
``subnet6``, ``masquerade``, ``forward_accept``, ``random_fully``, ``forwarding``, ``firewall``, ``state``; a
``save_dir`` key is ignored). ``runner`` runs commands: any object with ``run(argv, data=None) -> (rc, stdout,
stderr)`` and ``which(name) -> path or None``; ``SubprocessRunner`` (plain Python) and ``ModuleRunner`` (an
AnsibleModule) are provided. The result is a dict:

``changed``
    whether anything was (in check mode: would be) changed.
``backend``
    ``nftables`` or ``iptables``: the backend that holds hostgw's rules (None when there is none, e.g. absent).
``actions``
    what was (would be) changed, one line each.
``rules``
    ``{"4": [...], "6": [...]}``: hostgw's rules after the run, in the backend's own syntax.
``before`` / ``after``
    ``{section: text}`` for ``--diff``: ``nftables`` (hostgw's tables), ``iptables`` (hostgw's chains and jumps),
    ``sysctl``; only the sections that were looked at.
``failures``
    one line per failure, naming what failed; empty on success. converge never raises for a host problem: it goes on
    with what does not depend on the failed step.
``warnings``
    things the user should know (a foreign forward chain that drops, a lock that could not be taken).

Backends: ``iptables`` (chains HOSTGW-POSTRTG / HOSTGW-FWD, jumps from POSTROUTING / FORWARD, written with
``iptables-restore --noflush``) and ``nftables`` (tables ``ip hostgw`` and ``ip6 hostgw``, replaced in one ``nft -f -``
transaction). ``firewall: auto`` picks nftables when ``nft`` exists and the ``iptables`` command is iptables-nft
(``iptables -V`` says ``nf_tables``) or absent, else iptables. hostgw's state in the backend not chosen is removed
(it is ours, and would otherwise handle the same packets twice). Only hostgw's tables, chains and jump rules are ever
changed or deleted.

Only the standard library is imported: the boot restore runs this without Ansible.
"""

from __future__ import annotations

import fcntl
import json
import ipaddress
import os
import shutil
import subprocess

from ansible_collections.hostgw.network.plugins.module_utils._firewall_rules import (
    FWD_CHAIN,
    JUMPS,
    NAT_CHAIN,
    NFT_FAMILY,
    NFT_TABLE,
    VXLAN_CHAIN,
    VXLAN_COMMENT,
    FirewallRuleError,
    forward_drop_chains,
    iptables_text,
    nft_rules,
    nft_transaction,
    normalize_nft,
    plan_iptables,
    render,
    render_nft,
    restore_input,
    vxlan_jump,
)
from ansible_collections.hostgw.network.plugins.module_utils._sysctl import ensure_on, forwarding_names

__metaclass__ = type  # pylint: disable=invalid-name

LOCK_FILE = '/run/hostgw-firewall.lock'
SBIN_DIRS = ['/sbin', '/usr/sbin', '/usr/local/sbin']
BACKENDS = ('nftables', 'iptables')
FIREWALL_CHOICES = ('auto',) + BACKENDS
_IPT_BIN = {4: ('iptables', 'iptables-restore'), 6: ('ip6tables', 'ip6tables-restore')}
DEFAULTS = dict(network=None, subnet=None, network6=None, subnet6=None, masquerade=True, forward_accept=True,
                random_fully=True, forwarding=False, firewall='auto', state='present', vxlan_port=None,
                vxlan_sources=None)
_IGNORED = ('save_dir',)


# ---- runners ---------------------------------------------------------------------------------------------------

class Runner:
    """Runs argv lists (never a shell). Subclasses implement ``run``; ``which`` also looks in the sbin dirs."""

    def run(self, argv, data=None):  # pragma: no cover - interface
        raise NotImplementedError

    def which(self, name):
        path = os.pathsep.join([os.environ.get('PATH', '')] + SBIN_DIRS)
        return shutil.which(name, path=path)


class SubprocessRunner(Runner):
    """Plain ``subprocess`` (for the boot restore and tests)."""

    def __init__(self, timeout=120):
        self.timeout = timeout

    def run(self, argv, data=None):
        env = dict(os.environ, LC_ALL='C')
        try:
            # The boot program runs without Ansible, so no run_command here: argv only, never a shell.
            p = subprocess.run(list(argv), input=data, capture_output=True, text=True, env=env,  # pylint: disable=ansible-bad-function
                               timeout=self.timeout, check=False)
        except (OSError, subprocess.SubprocessError) as e:
            return 127, '', str(e)
        return p.returncode, p.stdout, p.stderr


class ModuleRunner(Runner):
    """An AnsibleModule's ``run_command`` and ``get_bin_path``."""

    def __init__(self, module):
        self.module = module

    def run(self, argv, data=None):
        return self.module.run_command(list(argv), data=data, check_rc=False, environ_update=dict(LC_ALL='C'))

    def which(self, name):
        return self.module.get_bin_path(name, opt_dirs=SBIN_DIRS)


def _err(rc, out, err):
    return '%s (rc %d)' % ((err or out or '').strip() or 'no output', rc)


# ---- spec ------------------------------------------------------------------------------------------------------

class SpecError(Exception):
    pass


def normalize_spec(spec):
    """``spec`` with defaults filled in, checked; raises SpecError naming the key and the value."""
    if not isinstance(spec, dict):
        raise SpecError('the firewall spec must be a dict, not %s' % type(spec).__name__)
    unknown = sorted(k for k in spec if k not in DEFAULTS and k not in _IGNORED and not str(k).startswith('_'))
    if unknown:
        raise SpecError('unknown firewall spec key(s): %s' % ', '.join(map(str, unknown)))
    out = dict(DEFAULTS)
    out.update((k, v) for k, v in spec.items() if k in DEFAULTS and v is not None)
    for key in ('masquerade', 'forward_accept', 'random_fully', 'forwarding'):
        if not isinstance(out[key], bool):
            raise SpecError('%s=%r is not a boolean' % (key, out[key]))
    if out['firewall'] not in FIREWALL_CHOICES:
        raise SpecError('firewall=%r is not one of %s' % (out['firewall'], ', '.join(FIREWALL_CHOICES)))
    if out['state'] not in ('present', 'absent'):
        raise SpecError('state=%r is not one of present, absent' % (out['state'],))
    if bool(out['network6']) != bool(out['subnet6']):
        raise SpecError('network6 and subnet6 go together (network6=%r, subnet6=%r)' % (out['network6'], out['subnet6']))
    if out['state'] == 'present':
        for key in ('network', 'subnet'):
            if not out[key]:
                raise SpecError('%s is required with state=present' % key)
    _check_vxlan(out)
    return out


def _check_vxlan(out):
    port = out['vxlan_port']
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
        raise SpecError('vxlan_port=%r is not a UDP port (1-65535)' % (port,))
    sources = out['vxlan_sources']
    if sources is None:
        return
    if port is None:
        raise SpecError('vxlan_sources needs vxlan_port')
    if not isinstance(sources, (list, tuple)):
        raise SpecError('vxlan_sources must be a list of node IPs, not %r' % (sources,))
    for ip in sources:
        try:
            ipaddress.ip_address(str(ip).strip())
        except ValueError:
            raise SpecError('vxlan_sources: %r is not an IP address' % (ip,))
    if not out['network6'] and any(':' in str(ip) for ip in sources):
        raise SpecError('vxlan_sources holds IPv6 node IPs: the VXLAN guard of an IPv6 underlay needs network6')


#: What ``boot_state`` always holds; the other rule options only when they differ from ``DEFAULTS``.
_BOOT_KEYS = ('network', 'subnet', 'masquerade', 'firewall')


def boot_state(spec):
    """What the boot restore replays for ``spec`` (the module's options): the options that define the rules, without
    ``forwarding`` (the boot program sets the sysctls itself) and ``state``. Defaults other than ``_BOOT_KEYS`` are left
    out, so the document is what the role gave the restore before the module returned it (restore.json unchanged)."""
    out = normalize_spec(dict((k, v) for k, v in spec.items() if k not in _IGNORED))
    doc = dict((k, out[k]) for k in _BOOT_KEYS)
    if out['network6']:
        doc.update(network6=out['network6'], subnet6=out['subnet6'])
    for key in ('forward_accept', 'random_fully', 'vxlan_port', 'vxlan_sources'):
        if out[key] != DEFAULTS[key]:
            doc[key] = out[key]
    return doc


def wanted_rules(spec):
    """``{version: (iptables chains, nft table text)}`` for state=present (both backends' forms of the same rules)."""
    out = {}
    fams = [(4, spec['network'], spec['subnet'])]
    if spec['network6']:
        fams.append((6, spec['network6'], spec['subnet6']))
    vxlan = (spec['vxlan_port'], spec['vxlan_sources'] or []) if spec['vxlan_port'] is not None else None
    for version, net, sub in fams:
        try:
            args = (version, net, sub, spec['masquerade'], spec['forward_accept'], spec['random_fully'], vxlan)
            out[version] = (render(*args), render_nft(*args))
        except FirewallRuleError as e:
            names = ('network', 'subnet') if version == 4 else ('network6', 'subnet6')
            raise SpecError('%s (%s=%r, %s=%r)' % (e, names[0], net, names[1], sub))
    return out


# ---- backend choice --------------------------------------------------------------------------------------------

def detect(runner):
    """Which backend the host's firewall is: ``(backend or None, reason)``.

    ``nftables`` when ``nft`` exists and ``iptables`` is iptables-nft or missing; ``iptables`` when ``iptables``
    exists (legacy, or nf_tables without the ``nft`` command); None when neither exists.
    """
    ipt = runner.which('iptables')
    nft = runner.which('nft')
    if ipt:
        rc, out, err = runner.run([ipt, '-V'])
        version = (out or err or '').strip()
        if rc == 0 and 'nf_tables' in version:
            if nft:
                return 'nftables', 'iptables is iptables-nft (%s) and nft exists' % version
            return 'iptables', 'iptables is iptables-nft (%s) but there is no nft command' % version
        return 'iptables', 'iptables is legacy (%s)' % (version if rc == 0 else _err(rc, out, err))
    if nft:
        return 'nftables', 'no iptables command, nft exists'
    return None, 'neither iptables nor nft exists'


# ---- iptables backend ------------------------------------------------------------------------------------------

class Iptables:
    def __init__(self, runner, version):
        self.runner = runner
        self.version = version
        self.tag = 'ipv%d' % version
        self.bin = runner.which(_IPT_BIN[version][0])
        self.restore = runner.which(_IPT_BIN[version][1])

    @property
    def usable(self):
        return bool(self.bin and self.restore)

    def _list(self, table, chain):
        return self.runner.run([self.bin, '-w', '-t', table, '-S', chain])

    def read(self):
        """``(current, jumps)`` as ``plan_iptables`` takes them."""
        current = {}
        for table, chain in (('nat', NAT_CHAIN), ('filter', FWD_CHAIN), ('filter', VXLAN_CHAIN)):
            rc, out, _err_ = self._list(table, chain)
            current[(table, chain)] = [x for x in out.splitlines() if x.startswith('-A ')] if rc == 0 else None
        if current[('filter', VXLAN_CHAIN)] is None:
            del current[('filter', VXLAN_CHAIN)]     # the common case: no guard (cross_subnet fail)
        jumps = {}
        for table, chain, spec in JUMPS:
            rc, out, _err_ = self._list(table, chain)
            want = '-A %s %s' % (chain, spec)
            jumps[(table, chain)] = sum(1 for x in out.splitlines() if x.strip() == want) if rc == 0 else 0
        return current, jumps

    def vxlan_jumps(self):
        """hostgw's VXLAN guard jumps in filter/INPUT (rule specs), found by their comment."""
        rc, out, _err_ = self._list('filter', 'INPUT')
        if rc != 0:
            return []
        tag = '--comment %s ' % VXLAN_COMMENT
        return [x.strip()[len('-A INPUT '):] for x in out.splitlines() if x.startswith('-A INPUT ') and tag in x + ' ']

    def apply(self, steps):
        """Run ``plan_iptables`` steps; returns failures (stops at the first one)."""
        for step in steps:
            kind = step[0]
            if kind == 'restore':
                argv, data = [self.restore, '-w', '--noflush'], restore_input(step[1])
            elif kind in ('append', 'delete'):
                argv, data = [self.bin, '-w', '-t', step[1], '-A' if kind == 'append' else '-D', step[2]] + step[3].split(), None
            elif kind == 'insert':
                argv, data = [self.bin, '-w', '-t', step[1], '-I', step[2], '1'] + step[3].split(), None
            else:
                argv, data = [self.bin, '-w', '-t', step[1], '-F' if kind == 'flush' else '-X', step[2]], None
            rc, out, err = self.runner.run(argv, data)
            if rc != 0:
                return ['%s: %s failed: %s' % (self.tag, ' '.join(os.path.basename(a) if i == 0 else a
                                                                  for i, a in enumerate(argv)), _err(rc, out, err))]
        return []


# ---- nftables backend ------------------------------------------------------------------------------------------

class Nft:
    def __init__(self, runner):
        self.runner = runner
        self.bin = runner.which('nft')

    def read(self, version):
        """hostgw's table of one family as listed (None when it does not exist). Raises OSError on other errors."""
        rc, out, err = self.runner.run([self.bin, 'list', 'table', NFT_FAMILY[version], NFT_TABLE])
        if rc == 0:
            return out
        if 'No such file or directory' in (err or '') or 'does not exist' in (err or ''):
            return None
        raise OSError('nft list table %s %s failed: %s' % (NFT_FAMILY[version], NFT_TABLE, _err(rc, out, err)))

    def chains(self):
        rc, out, _err_ = self.runner.run([self.bin, 'list', 'chains'])
        return out if rc == 0 else ''

    def apply(self, text):
        rc, out, err = self.runner.run([self.bin, '-f', '-'], data=text)
        if rc != 0:
            return ['nft -f - (one transaction, nothing applied) failed: %s' % _err(rc, out, err)]
        return []


def _join(lines):
    return '\n'.join(lines) + ('\n' if lines else '')


# ---- converge --------------------------------------------------------------------------------------------------

def _lock(path, warnings):
    if not path:
        return None
    try:
        f = open(path, 'a')  # pylint: disable=consider-using-with,unspecified-encoding
        fcntl.flock(f, fcntl.LOCK_EX)
        return f
    except (IOError, OSError) as e:
        warnings.append('cannot lock %s (%s): runs at the same time on this host may race' % (path, e))
        return None


def _converge_iptables(runner, wanted, check_mode, res, required, vxlan_port=None):
    """Bring hostgw's iptables chains/jumps of both families to ``wanted`` ({version: chains or None})."""
    before, after = [], []
    for version in (4, 6):
        want = wanted.get(version)
        t = Iptables(runner, version)
        if not t.usable:
            if want is not None and required:
                res['failures'].append('%s: %s and %s are needed for the iptables backend and were not found'
                                       % (t.tag, _IPT_BIN[version][0], _IPT_BIN[version][1]))
            continue
        current, jumps = t.read()
        vx_jumps = t.vxlan_jumps()
        before += iptables_text(t.tag, current, jumps, vx_jumps)
        actions, steps = plan_iptables(t.tag, current, jumps, want, vx_jumps, vxlan_port)
        if want is not None:
            after += iptables_text(t.tag, want, dict(((tb, c), 1) for tb, c, _s in JUMPS),
                                   [vxlan_jump(vxlan_port)] if vxlan_port is not None else [])
            res['rules'][str(version)] = [x for key in sorted(want) for x in want[key]]
        res['actions'] += actions
        if steps and not check_mode:
            res['failures'] += t.apply(steps)
    res['before']['iptables'] = _join(before)
    res['after']['iptables'] = _join(after)


def _converge_nft(runner, wanted, check_mode, res, required, check_forward):
    """Bring hostgw's nft tables to ``wanted`` ({version: table text or None}), in one transaction."""
    nft = Nft(runner)
    if not nft.bin:
        if required:
            res['failures'].append('nft is needed for the nftables backend and was not found')
        return
    current, existing = {}, set()
    for version in (4, 6):
        try:
            current[version] = nft.read(version)
        except OSError as e:
            if required:
                res['failures'].append(str(e))
            else:   # nft exists but does not work here (no nf_tables?): hostgw cannot have tables there either
                res['warnings'].append('could not look for hostgw\'s nft tables: %s' % e)
            return
        if current[version] is not None:
            existing.add(version)
    todo = {}
    for version in (4, 6):
        want = wanted.get(version)
        tag = 'ipv%d' % version
        name = '%s %s' % (NFT_FAMILY[version], NFT_TABLE)
        if want is not None:
            res['rules'][str(version)] = nft_rules(want)
            if normalize_nft(current[version]) != normalize_nft(want):
                todo[version] = want
                res['actions'].append('%s: %s table %s' % (tag, 'replaced' if version in existing else 'created', name))
        elif version in existing:
            todo[version] = None
            res['actions'].append('%s: deleted table %s' % (tag, name))
    res['before']['nftables'] = ''.join(current[v] for v in (4, 6) if current[v])
    res['after']['nftables'] = ''.join(wanted[v] for v in (4, 6) if wanted.get(v))
    if todo and not check_mode:
        failures = nft.apply(nft_transaction(todo, existing))
        res['failures'] += failures
        if not failures:
            for version, want in todo.items():
                if want is None:
                    continue
                try:
                    got = nft.read(version)
                except OSError:
                    got = None
                if normalize_nft(got) != normalize_nft(want):
                    res['warnings'].append('nft lists table %s %s differently from what hostgw wrote; every run '
                                           'will report changed:\n%s' % (NFT_FAMILY[version], NFT_TABLE, got))
    if check_forward:
        drops = forward_drop_chains(nft.chains())
        if drops:
            res['warnings'].append(
                'forward chain(s) of other tools drop by default: %s. nftables runs every base chain, so the accept in '
                'table ip hostgw does not override them: forwarded pod traffic is dropped there unless that tool '
                'allows the cluster network (or use firewall: iptables, whose jump sits in that FORWARD chain)'
                % ', '.join(drops))


def converge(spec, runner, check_mode=False, lock_path=LOCK_FILE, proc_sys='/proc/sys'):
    """Make hostgw's firewall state (and, with ``forwarding``, the forwarding sysctls) match ``spec``. See the module
    docstring for the result."""
    res = dict(changed=False, backend=None, actions=[], rules={}, before={}, after={}, failures=[], warnings=[])
    try:
        spec = normalize_spec(spec)
        wanted = wanted_rules(spec) if spec['state'] == 'present' else {}
    except SpecError as e:
        res['failures'].append(str(e))
        return res
    present = spec['state'] == 'present'
    lock = _lock(lock_path, res['warnings'])   # one run at a time per host: read-compare-write must not interleave
    try:
        if present:
            if spec['firewall'] == 'auto':
                backend, reason = detect(runner)
                res['backend_reason'] = reason
                if backend is None:
                    res['failures'].append('firewall=auto: %s; install nftables (or iptables), hostgw installs no '
                                           'firewall package itself' % reason)
            else:
                backend = spec['firewall']
            res['backend'] = backend
        else:
            backend = None
        ipt_want = dict((v, w[0]) for v, w in wanted.items()) if backend == 'iptables' else {}
        nft_want = dict((v, w[1]) for v, w in wanted.items()) if backend == 'nftables' else {}
        # The chosen backend first (required: its tools must exist); then hostgw's state in the other one goes.
        order = ['nftables', 'iptables'] if backend != 'iptables' else ['iptables', 'nftables']
        for name in order:
            if backend is None and present:
                break
            required = name == backend
            if name == 'iptables':
                _converge_iptables(runner, ipt_want, check_mode, res, required,
                                   spec['vxlan_port'] if present else None)
            else:
                _converge_nft(runner, nft_want, check_mode, res, required,
                              check_forward=required and spec['forward_accept'])
        if present and spec['forwarding']:
            s = ensure_on(forwarding_names(wanted), check_mode, root=proc_sys)
            res['before']['sysctl'] = _join(s['before'])
            res['after']['sysctl'] = _join(s['after'])
            res['actions'] += s['actions']
            res['failures'] += s['failures']
    finally:
        if lock is not None:
            lock.close()
    res['changed'] = bool(res['actions'])
    return res


def saved_files(spec, backend):
    """Files for a boot restore kept in the module's ``save_dir``: ``{name: content or None (remove)}``.

    ``firewall.json`` is the spec itself (what the restore passes to ``converge``). For a restore written in shell:
    ``rules.nft`` (backend nftables) is one ``nft -f`` transaction that replaces hostgw's tables and nothing else,
    valid whether they exist or not; ``rules.v4`` / ``rules.v6`` (backend iptables) are the ``iptables-restore
    --noflush`` input of hostgw's chains (the jumps are the restore's job). Only the chosen backend's files exist, so
    a restore cannot put iptables chains next to hostgw's nft tables, or the reverse.
    """
    spec = normalize_spec(spec)
    # Without a VXLAN guard the file is what it always was (no vxlan_* keys).
    saved = dict((k, v) for k, v in spec.items() if not (k.startswith('vxlan_') and v is None))
    out = {'firewall.json': json.dumps(saved, indent=2, sort_keys=True) + '\n'}
    wanted = wanted_rules(spec) if spec['state'] == 'present' else {}
    for version in (4, 6):
        chains = wanted.get(version, (None,))[0]
        out['rules.v%d' % version] = restore_input(chains) if backend == 'iptables' and chains is not None else None
    tables = dict((v, w[1]) for v, w in wanted.items())
    out['rules.nft'] = nft_transaction(tables, set()) if backend == 'nftables' and tables else None
    return out
