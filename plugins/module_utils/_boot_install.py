# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The boot installer (what ``hostgw_restore``, and ``hostgw_files`` with ``boot``, write): the saved state
(``restore.json``, written by ``_boot_program.dump_state``), the boot program (``_boot_program`` and a copy of every
module_util it imports, so boot replays exactly the code the modules run) and the systemd units. It reads the
sources it vendors and the manifest; the program that runs at boot is ``_boot_program``."""

from __future__ import annotations

import importlib.util
import os
import re

from ansible_collections.hostgw.network.plugins.module_utils import _boot_program
from ansible_collections.hostgw.network.plugins.module_utils._mesh import path_error

__metaclass__ = type  # pylint: disable=invalid-name

PACKAGE = 'ansible_collections.hostgw.network.plugins.module_utils'
RESTORE_UNIT = 'hostgw-restore.service'
REPAIR_UNIT = 'hostgw-repair.service'
REPAIR_TIMER = 'hostgw-repair.timer'
BEFORE = 'kubelet.service containerd.service crio.service docker.service'
_TIMESPAN = re.compile(r'([0-9]+ ?(us|ms|s|sec|seconds?|m|min|minutes?|h|hr|hours?|d|days?) ?)+\Z')

STUB = '''#!/usr/bin/env python3
# hostgw boot restore, written by hostgw.network.hostgw_restore: do not edit (re-run the playbook instead).
# Usage: hostgw-restore [--check] STATE_FILE
import os
import sys

sys.dont_write_bytecode = True   # no __pycache__ beside the code: the state directory holds what the manifest records
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
from ansible_collections.hostgw.network.plugins.module_utils._boot_program import main  # noqa: E402

sys.exit(main())
'''


class BootError(Exception):
    pass


def _safe_path(value, what):
    problem = path_error(value, what)
    if problem:
        raise BootError(problem + ' (it is written into a systemd unit)')
    return value.rstrip('/') or '/'


def source(name):
    """The source text of one of hostgw's module_utils, as the running code was loaded (file or AnsiballZ zip)."""
    full = '%s.%s' % (PACKAGE, name)
    spec = importlib.util.find_spec(full)
    if spec is None or spec.loader is None or not hasattr(spec.loader, 'get_source'):
        raise BootError('cannot find the source of %s to install the boot program' % full)
    text = spec.loader.get_source(full)
    if isinstance(text, bytes):   # some loaders (Ansible's collection loader) hand back bytes
        text = text.decode('utf-8')
    if not text:
        raise BootError('the source of %s is empty' % full)
    return text


_IMPORT = re.compile(r'^\s*from ansible_collections\.hostgw\.network\.plugins\.module_utils(?:\.(_\w+))? import ([\w, ()]+)',
                     re.M)


def closure(roots=('_boot_program',)):
    """The module_utils the boot program needs: ``roots`` and everything they import from module_utils, recursively
    (so a new import in the seam can never be forgotten in the vendored copy). ``{name: source}``."""
    out = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        text = out[name] = source(name)
        for mod, names in _IMPORT.findall(text):
            if mod:
                todo.append(mod)
            else:
                todo.extend(n.strip() for n in names.strip('()').split(',') if n.strip().startswith('_'))
    return out


def units(state_dir, command, repair_interval):
    exec_start = ' '.join(command)
    restore = '''# Written by hostgw.network.hostgw_restore: do not edit.
[Unit]
Description=hostgw: restore the pod bridge, host-gw routes and masquerade rules
Documentation=file://%(dir)s/restore.json
Wants=network-online.target
After=network-online.target
Before=%(before)s

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=%(exec)s

[Install]
WantedBy=multi-user.target
''' % dict(dir=state_dir, before=BEFORE, exec=exec_start)
    out = {RESTORE_UNIT: restore}
    if repair_interval:
        out[REPAIR_UNIT] = '''# Written by hostgw.network.hostgw_restore: do not edit.
[Unit]
Description=hostgw: repair drift of the pod bridge, host-gw routes and masquerade rules
After=network-online.target %(restore)s

[Service]
Type=oneshot
ExecStart=%(exec)s
''' % dict(restore=RESTORE_UNIT, exec=exec_start)
        out[REPAIR_TIMER] = '''# Written by hostgw.network.hostgw_restore: do not edit.
[Unit]
Description=hostgw: repair drift every %(every)s

[Timer]
OnBootSec=%(every)s
OnUnitActiveSec=%(every)s
AccuracySec=1s

[Install]
WantedBy=timers.target
''' % dict(every=repair_interval)
    return out


def install_files(state_dir, bridge, routes, firewall, sysctls, python, unit_dir=None, repair_interval=''):
    """``(items for _files.sync, boot command argv, unit names)``. Raises ``BootError`` naming a bad value."""
    state_dir = _safe_path(state_dir, 'state_dir')
    python = _safe_path(python, 'python')
    repair_interval = (repair_interval or '').strip()
    if repair_interval and not _TIMESPAN.match(repair_interval):
        raise BootError('repair_interval %r is not a systemd time span (such as 30s, 5min, 1h)' % repair_interval)
    if repair_interval and not unit_dir:
        raise BootError('repair_interval %r needs unit_dir (a systemd timer runs the repair)' % repair_interval)
    for name in sysctls or {}:
        if name not in _boot_program.SYSCTL_PATH:
            raise BootError('sysctls: %s is not one hostgw sets (%s)' % (name, ', '.join(sorted(_boot_program.SYSCTL_PATH))))
        if str(sysctls[name]) != '1':
            raise BootError('sysctls: %s = %r: hostgw only turns it on (1)' % (name, sysctls[name]))
    for what, part, keys in (('bridge', bridge, ('name',)), ('routes', routes, ('uplink', 'proto', 'routes'))):
        if part and any(k not in part for k in keys):
            raise BootError('%s must hold %s (the boot_state its module returns), got %r' % (what, ', '.join(keys), part))
    doc = _boot_program.boot_state(bridge=bridge or None, routes=routes or None, firewall=firewall or None,
                                   sysctls=dict((k, str(v)) for k, v in (sysctls or {}).items()))
    state_file = '%s/restore.json' % state_dir
    program = '%s/restore/%s' % (state_dir, _boot_program.PROGRAM)
    lib = '%s/restore/lib/%s' % (state_dir, PACKAGE.replace('.', '/'))
    # The code first, then the stub that imports it, then the state: a boot or repair run that starts between two of
    # these writes finds a program that can run (the old one, or the new one with all of its code).
    items = [dict(path='%s/%s.py' % (lib, name), content=text, mode='0644') for name, text in sorted(closure().items())]
    items.append(dict(path=program, content=STUB, mode='0755'))
    items.append(dict(path=state_file, content=_boot_program.dump_state(doc), mode='0600'))
    command = [python, program, state_file]
    names = []
    if unit_dir:
        unit_dir = _safe_path(unit_dir, 'unit_dir')
        for name, text in sorted(units(state_dir, command, repair_interval).items()):
            items.append(dict(path='%s/%s' % (unit_dir, name), content=text, mode='0644'))
            names.append(name)
    return items, command, names


def stale_files(manifest, p, items, names):
    """Files hostgw wrote earlier for the boot restore that this run no longer writes: repair units after the interval
    was switched off, and the boot program's vendored module_utils that the program no longer imports (a module
    renamed or gone in a newer hostgw). Only files the manifest records are candidates (hostgw's own)."""
    from ansible_collections.hostgw.network.plugins.module_utils import _files  # pylint: disable=import-outside-toplevel
    recorded = _files.read_manifest(manifest)['files']
    writing = set(x['path'] for x in items)
    units_of = set()
    if p['unit_dir']:
        units_of = set('%s/%s' % (p['unit_dir'].rstrip('/'), n) for n in (REPAIR_UNIT, REPAIR_TIMER) if n not in names)
    lib = '%s/restore/lib/' % p['state_dir'].rstrip('/')
    out = []
    for path in sorted(recorded):
        if path in writing or not os.path.lexists(path):
            continue
        if path in units_of or (path.startswith(lib) and path.endswith('.py')):
            out.append(path)
    return out


#: The options of ``hostgw_restore`` (and of ``hostgw_files``' ``boot``, validated against the same spec).
ARGUMENT_SPEC = dict(
    state_dir=dict(type='path', default='/etc/hostgw'),
    bridge=dict(type='dict'),
    routes=dict(type='dict'),
    firewall=dict(type='dict'),
    sysctls=dict(type='dict', default={}),
    python=dict(type='path'),
    unit_dir=dict(type='path'),
    repair_interval=dict(type='str', default=''),
    manifest=dict(type='path'),
)


def validate(options, what='boot'):
    """``options`` checked and completed against ``ARGUMENT_SPEC`` (as AnsibleModule would), for a module that takes
    them as one dict option. Raises ``BootError`` naming ``what`` and every problem."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # pylint: disable=import-outside-toplevel
    if not isinstance(options, dict):
        raise BootError('%s must be a dict of the options of hostgw.network.hostgw_restore, got %r' % (what, options))
    result = ArgumentSpecValidator(ARGUMENT_SPEC).validate(dict(options))
    if result.error_messages:
        raise BootError('%s: %s' % (what, '; '.join(result.error_messages)))
    return result.validated_parameters


def prepare(p, python):
    """The boot files of options ``p`` (``ARGUMENT_SPEC``): ``(items for _files.sync, command, unit names)``.
    ``python``: the default interpreter (the module's own). Raises ``BootError`` on bad input, before any write."""
    return install_files(state_dir=p['state_dir'], bridge=p['bridge'], routes=p['routes'], firewall=p['firewall'],
                         sysctls=p['sysctls'], python=p['python'] or python, unit_dir=p['unit_dir'],
                         repair_interval=p['repair_interval'])


def program_file(path, p):
    """Whether ``path`` is one of the boot program's own files (large, and unchanging for a user: kept out of --diff)."""
    return path.startswith('%s/restore/' % p['state_dir'].rstrip('/'))


def remove_stale(module, p, manifest, items, names, check_mode):
    """Remove what ``stale_files`` finds; ``(changed, diffs)``."""
    from ansible_collections.hostgw.network.plugins.module_utils import _files  # pylint: disable=import-outside-toplevel
    stale = stale_files(manifest, p, items, names)
    if not stale:
        return [], []
    gone, diffs, _kept = _files.sync(module, [dict(path=x) for x in stale], None, False, check_mode)
    if not check_mode:
        _files.record(module, manifest, [], [], forget=stale)
    return gone, diffs


def sync(module, p, python, check_mode, manifest=None, files=()):
    """What ``hostgw_restore`` does (and ``hostgw_files`` with ``boot``): write the boot files of options ``p``, and
    ``files`` (other ``_files.sync`` items) in the same call, record them in the manifest (``manifest``, else
    ``p['manifest']``, else ``<state_dir>/manifest.json``), remove repair units no longer wanted.

    Returns ``{changed_files, boot_changed, diffs, command, units}`` (``boot_changed``: the boot files among
    ``changed_files``). Raises ``BootError`` or ``_files.FilesError`` before anything is written on bad input.
    """
    from ansible_collections.hostgw.network.plugins.module_utils import _files  # pylint: disable=import-outside-toplevel
    items, command, names = prepare(p, python)
    manifest = manifest or p['manifest'] or '%s/manifest.json' % p['state_dir'].rstrip('/')
    changed, diffs, _kept = _files.sync(module, list(files) + items, manifest, True, check_mode)
    gone, more = remove_stale(module, p, manifest, items, names, check_mode)
    diffs = [d for d in diffs + more if not program_file(d['after_header'], p)]
    ours = set(x['path'] for x in items) | set(gone)
    changed += gone
    return dict(changed_files=changed, boot_changed=[x for x in changed if x in ours], diffs=diffs, command=command,
                units=names)
