# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The files hostgw writes on a node, and the manifest that lets teardown remove exactly those.

Files are written to a temporary file in the same directory and moved into place with
``AnsibleModule.atomic_move`` (which keeps the SELinux context of the file it replaces). Every path written, and
every directory created on the way, is recorded in a manifest (JSON). Teardown removes the files the manifest and
the caller name, then the directories hostgw created, deepest first, and only when empty: a directory holding
another tool's file, or a mount point, stays.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import tempfile

__metaclass__ = type  # pylint: disable=invalid-name

MANIFEST_SCHEMA = 1


def current(path):
    """``(bytes, mode, (uid, gid))`` of a regular file, ``(None, None, None)`` when absent, ``('not-a-file', ...)``."""
    try:
        st = os.lstat(path)
    except OSError:
        return None, None, None
    if not stat.S_ISREG(st.st_mode):
        return 'not-a-file', None, None
    with open(path, 'rb') as f:
        return f.read(), stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid)


def ensure_dir(path, created):
    """Create ``path`` and missing parents (0755); append each directory created to ``created``."""
    missing = []
    p = path
    while p and p != os.path.dirname(p) and not os.path.isdir(p):
        missing.append(p)
        p = os.path.dirname(p)
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o755)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise
            continue
        created.append(d)


def write(module, path, data, mode, created_dirs):
    """Write ``data`` to ``path`` atomically with ``mode``, owned by root when run as root."""
    parent = os.path.dirname(path)
    ensure_dir(parent, created_dirs)
    fd, tmp = tempfile.mkstemp(prefix='.hostgw-', dir=parent)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        module.atomic_move(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    os.chmod(path, mode)
    if os.geteuid() == 0:
        os.chown(path, 0, 0)


def read_manifest(path):
    """``{'files': [...], 'dirs': [...]}`` from ``path`` (empty lists when absent or unreadable)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (IOError, OSError, ValueError):
        return {'files': [], 'dirs': []}
    if not isinstance(data, dict):
        return {'files': [], 'dirs': []}
    return {'files': [p for p in data.get('files') or [] if isinstance(p, str) and os.path.isabs(p)],
            'dirs': [p for p in data.get('dirs') or [] if isinstance(p, str) and os.path.isabs(p)]}


def manifest_text(files, dirs):
    doc = {'schema': MANIFEST_SCHEMA,
           'comment': 'files and directories hostgw.network created on this node; teardown removes exactly these',
           'files': sorted(set(files)), 'dirs': sorted(set(dirs))}
    return json.dumps(doc, indent=2, sort_keys=True) + '\n'


@contextlib.contextmanager
def _locked(directory):
    """An exclusive ``flock`` on ``directory`` (which exists) for the ``with`` block. The manifest is replaced by a
    rename, so the lock is on the directory that holds it, not on the file, and it leaves nothing behind."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)   # releases the lock


def record(module, manifest, files, dirs, forget=()):
    """Add ``files``/``dirs`` to the manifest (and drop ``forget``); write it only when it changes.

    Read, merge and write happen under a lock: two runs at once on one node (two playbooks, or two tasks) each add
    what they wrote, and neither loses the other's entries. The directories a run created are recorded by that run
    alone (the other finds them already there), so a lost update would leave them behind at teardown.
    """
    parent = os.path.dirname(manifest)
    created = []
    ensure_dir(parent, created)
    with _locked(parent):
        have = read_manifest(manifest)
        new_files = (set(have['files']) | set(files)) - set(forget)
        new_dirs = set(have['dirs']) | set(dirs) | set(created)
        text = manifest_text(new_files, new_dirs)
        old, _mode, _owner = current(manifest)
        if old == text.encode():
            return False
        write(module, manifest, text.encode(), 0o600, [])
    return True


def plan_removal(manifest, paths):
    """What teardown removes: (files present, directories hostgw created, deepest first). With them the bytecode
    Python left of hostgw's own ``.py`` files (``__pycache__/<name>.*.pyc`` beside a recorded ``<name>.py``: the boot
    program of releases before it stopped writing any), and that ``__pycache__`` when nothing else is in it."""
    recorded = read_manifest(manifest) if manifest else {'files': [], 'dirs': []}
    files = []
    for p in list(paths) + recorded['files'] + ([manifest] if manifest else []):
        if p not in files and os.path.lexists(p) and not os.path.isdir(p):
            files.append(p)
    ours_py = set(p for p in recorded['files'] if p.endswith('.py'))
    caches = []
    for d in sorted(set(os.path.dirname(p) for p in ours_py)):
        cache = os.path.join(d, '__pycache__')
        if not os.path.isdir(cache) or os.path.islink(cache):
            continue
        caches.append(cache)
        for name in sorted(os.listdir(cache)):
            path = os.path.join(cache, name)
            if name.endswith('.pyc') and os.path.join(d, name.split('.', 1)[0] + '.py') in ours_py \
                    and not os.path.isdir(path):
                files.append(path)
    dirs = sorted(set(recorded['dirs']) | set(caches), key=lambda d: (-d.count(os.sep), d))
    return files, dirs


def remove(files, dirs):
    """Remove ``files``, then each of ``dirs`` that is empty. Returns (removed, kept) with a reason per kept dir."""
    removed, kept = [], []
    for p in files:
        try:
            os.unlink(p)
            removed.append(p)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
    for d in dirs:
        if not os.path.isdir(d) or os.path.islink(d):
            continue
        if os.path.ismount(d):
            kept.append('%s (a mount point)' % d)
            continue
        try:
            os.rmdir(d)
            removed.append(d)
        except OSError as e:
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
                kept.append('%s (holds files hostgw did not write)' % d)
            elif e.errno == errno.EBUSY:
                kept.append('%s (busy: a mount point)' % d)
            else:
                raise
    return removed, kept


class FilesError(Exception):
    pass


def sync(module, items, manifest=None, present=True, check_mode=False):
    """What ``hostgw_files`` does. ``items``: dicts with ``path``, ``content`` (text), ``mode`` (octal text).

    Returns ``(changed_paths, diffs, kept)``; raises ``FilesError`` for bad input before anything is written.
    """
    changed, diffs, kept = [], [], []
    if manifest is not None and not os.path.isabs(manifest):
        raise FilesError('manifest %s is not an absolute path' % manifest)
    for item in items:
        if not os.path.isabs(item['path']):
            raise FilesError('path %s is not absolute' % item['path'])
    if not present:
        files, dirs = plan_removal(manifest, [item['path'] for item in items])
        for p in files:
            changed.append(p)
            diffs.append(dict(before_header=p, after_header=p, before='present\n', after='absent\n'))
        if check_mode:
            return changed, diffs, kept
        removed, kept = remove(files, dirs)
        for d in removed:
            if d not in changed:
                changed.append(d)
        return changed, diffs, kept
    wanted = []
    for item in items:
        if item.get('content') is None:
            raise FilesError('%s: content is required' % item['path'])
        try:
            mode = int(item.get('mode') or '0644', 8)
        except ValueError:
            raise FilesError('%s: mode %r is not octal' % (item['path'], item.get('mode')))
        wanted.append((item['path'], item['content'], item['content'].encode('utf-8'), mode, item.get('mode') or '0644'))
    written, created = [], []
    root = os.geteuid() == 0
    for path, text, data, mode, mode_text in wanted:
        old, old_mode, owner = current(path)
        if old == 'not-a-file':
            raise FilesError('%s exists and is not a regular file: refusing to replace it' % path)
        if old == data and old_mode == mode and (owner == (0, 0) or not root):
            written.append(path)   # already right: still hostgw's file
            continue
        changed.append(path)
        if old is not None and old == data:
            diffs.append(dict(before_header=path, after_header=path,
                              before='mode %s\n' % (oct(old_mode)[2:] if old_mode is not None else '?'),
                              after='mode %s\n' % mode_text))
        else:
            diffs.append(dict(before_header=path, after_header=path,
                              before=old.decode('utf-8', 'replace') if old is not None else '', after=text))
        if not check_mode:
            try:
                write(module, path, data, mode, created)
            except (IOError, OSError) as e:
                raise FilesError('cannot write %s: %s (written before it: %s)'
                                 % (path, e, ', '.join(changed[:-1]) or 'nothing'))
            written.append(path)
    if manifest is not None and not check_mode:
        record(module, manifest, written, created)
    return changed, diffs, kept
