#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r'''
module: hostgw_masq
short_description: Masquerade pod egress and accept forwarded cluster traffic, in chains hostgw owns
version_added: 0.1.0
description:
  - Does what Flannel's C(--ip-masq) does, with iptables (C(iptables-nft) or C(iptables-legacy), whichever
    C(iptables) is on the node) and ip6tables for dual-stack.
  - In the C(nat) table, chain C(HOSTGW-POSTRTG) (jumped to from C(POSTROUTING)) returns kube-proxy-marked packets,
    traffic inside the cluster network and traffic to this node's pods, and masquerades pod traffic leaving the cluster
    network (not multicast). In the C(filter) table, chain C(HOSTGW-FWD) (jumped to from C(FORWARD)) accepts traffic
    from and to the cluster network, so a C(DROP) forward policy does not cut pods off.
  - Only hostgw's own chains are written (atomically, with C(iptables-restore --noflush)); the jump rules are appended
    once to the built-in chains. Foreign rules and their order are never touched. Re-running never duplicates a rule;
    rules altered behind hostgw's back are put back.
  - O(state=absent) removes the jump rules and hostgw's chains and nothing else.
author:
  - hostgw contributors (@hostgw)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
options:
  network:
    description: The IPv4 cluster network (Flannel C(Network)).
    type: str
  subnet:
    description: This node's IPv4 pod subnet.
    type: str
  network6:
    description: The IPv6 cluster network, for dual-stack.
    type: str
  subnet6:
    description: This node's IPv6 pod subnet.
    type: str
  masquerade:
    description: Write the masquerade rules. With V(false) the nat chain is kept empty (only FORWARD accepts remain).
    type: bool
    default: true
  forward_accept:
    description: Accept forwarded traffic from and to the cluster network.
    type: bool
    default: true
  random_fully:
    description: Use C(--random-fully) for masquerading, as Flannel does where supported.
    type: bool
    default: true
  forwarding:
    description:
      - Ensure the kernel forwards packets (C(net.ipv4.ip_forward=1), and C(net.ipv6.conf.all.forwarding=1) when
        O(network6) is given), now. Persisting it across reboots is the role's job (C(/etc/sysctl.d)).
      - With V(false) forwarding is left as it is.
    type: bool
    default: false
  save_dir:
    description:
      - Directory to keep C(rules.v4) (and C(rules.v6)) in, the C(iptables-restore --noflush) input of hostgw's chains,
        for a boot-time restore. Not written when omitted.
    type: path
  state:
    description: V(present) ensures the rules; V(absent) removes hostgw's chains and jumps.
    type: str
    choices: [present, absent]
    default: present
requirements:
  - C(iptables), C(iptables-restore) (and C(ip6tables), C(ip6tables-restore) for IPv6) on the node.
seealso:
  - module: hostgw.network.hostgw_route
'''

EXAMPLES = r'''
- name: Masquerade pod egress like flanneld --ip-masq
  hostgw.network.hostgw_masq:
    network: 10.244.0.0/16
    subnet: 10.244.1.0/24
  become: true

- name: Remove hostgw's chains
  hostgw.network.hostgw_masq:
    state: absent
'''

RETURN = r'''
rules:
  description: hostgw's rules as they are after the run (as they would be, in check mode), in C(iptables -S) form, per family.
  returned: always
  type: dict
  sample: {"4": ["-A HOSTGW-FWD -s 10.244.0.0/16 -j ACCEPT"]}
actions:
  description: What was changed (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: ['ipv4: rewrote nat/HOSTGW-POSTRTG', 'ipv4: appended jump nat/POSTROUTING']
'''

import fcntl  # noqa: E402  pylint: disable=wrong-import-position
import os  # noqa: E402  pylint: disable=wrong-import-position

from ansible.module_utils.basic import AnsibleModule  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.hostgw.network.plugins.module_utils._masq import (  # noqa: E402  pylint: disable=wrong-import-position
    FWD_CHAIN,
    JUMPS,
    NAT_CHAIN,
    MasqError,
    render,
    restore_input,
)

LOCK_FILE = '/run/hostgw-masq.lock'
_BIN = {4: ('iptables', 'iptables-restore'), 6: ('ip6tables', 'ip6tables-restore')}
_DIRS = ['/sbin', '/usr/sbin', '/usr/local/sbin']


class Tables:
    def __init__(self, module, version, required):
        self.module = module
        self.version = version
        self.bin = module.get_bin_path(_BIN[version][0], required=required, opt_dirs=_DIRS)
        self.restore = module.get_bin_path(_BIN[version][1], required=required, opt_dirs=_DIRS)

    def run(self, args, data=None, check=True):
        rc, out, err = self.module.run_command([self.bin, '-w'] + args, data=data, check_rc=False)
        if check and rc != 0:
            self.module.fail_json(msg='%s %s failed: %s' % (_BIN[self.version][0], ' '.join(args), (err or out).strip()))
        return rc, out

    def chain(self, table, chain):
        rc, out = self.run(['-t', table, '-S', chain], check=False)
        if rc != 0:
            return None
        return [line for line in out.splitlines() if line.startswith('-A ')]

    def count_jump(self, table, chain, spec):
        """How many copies of hostgw's jump rule the built-in chain holds."""
        rc, out = self.run(['-t', table, '-S', chain], check=False)
        want = '-A %s %s' % (chain, spec)
        return sum(1 for line in out.splitlines() if line.strip() == want) if rc == 0 else 0

    def restore_chains(self, wanted):
        rc, out, err = self.module.run_command([self.restore, '-w', '--noflush'], data=restore_input(wanted), check_rc=False)
        if rc != 0:
            self.module.fail_json(msg='%s failed: %s' % (_BIN[self.version][1], (err or out).strip()))


def _text(state):
    lines = []
    for key in sorted(state):
        lines.extend(state[key])
    return '\n'.join(lines) + ('\n' if lines else '')


def main():
    module = AnsibleModule(
        argument_spec=dict(
            network=dict(type='str'), subnet=dict(type='str'),
            network6=dict(type='str'), subnet6=dict(type='str'),
            masquerade=dict(type='bool', default=True),
            forward_accept=dict(type='bool', default=True),
            random_fully=dict(type='bool', default=True),
            forwarding=dict(type='bool', default=False),
            save_dir=dict(type='path'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
        ),
        required_if=[('state', 'present', ('network', 'subnet'))],
        required_together=[('network6', 'subnet6')],
        supports_check_mode=True,
    )
    p = module.params
    present = p['state'] == 'present'
    families = {}
    if present:
        try:
            families[4] = render(4, p['network'], p['subnet'], p['masquerade'], p['forward_accept'], p['random_fully'])
            if p['network6']:
                families[6] = render(6, p['network6'], p['subnet6'], p['masquerade'], p['forward_accept'], p['random_fully'])
        except MasqError as e:
            module.fail_json(msg=str(e))
    else:
        families = {4: None, 6: None}

    # One hostgw_masq at a time per host: read-compare-write of the jump rules must not interleave.
    # The lock is released when the module process exits.
    try:
        lock = open(LOCK_FILE, 'a')  # pylint: disable=consider-using-with,unspecified-encoding
        fcntl.flock(lock, fcntl.LOCK_EX)
    except (IOError, OSError) as e:
        module.warn('cannot lock %s (%s): runs at the same time on this host may race' % (LOCK_FILE, e))
    actions, before, after, rules = [], {}, {}, {}
    for version, wanted in sorted(families.items()):
        t = Tables(module, version, required=present)
        if t.bin is None or t.restore is None:
            continue
        tag = 'ipv%d' % version
        current = {}
        for table, chain in (('nat', NAT_CHAIN), ('filter', FWD_CHAIN)):
            current[(table, chain)] = t.chain(table, chain)
        jumps = dict(((table, chain), t.count_jump(table, chain, spec)) for table, chain, spec in JUMPS)
        before[str(version)] = ['%s: -A %s %s' % (tag, c, s) for (tb, c, s) in JUMPS if jumps[(tb, c)]]
        before[str(version)] += ['%s: %s' % (tag, line) for key in sorted(current) for line in (current[key] or [])]
        if present:
            stale = dict((key, rules_) for key, rules_ in wanted.items() if current.get(key) != rules_)
            missing = [(tb, c, s) for (tb, c, s) in JUMPS if not jumps[(tb, c)]]
            extra = [(tb, c, s) for (tb, c, s) in JUMPS if jumps[(tb, c)] > 1]
            actions += ['%s: rewrote %s/%s' % (tag, tb, c) for (tb, c) in sorted(stale)]
            actions += ['%s: appended jump %s/%s' % (tag, tb, c) for (tb, c, _s) in missing]
            actions += ['%s: removed %d duplicate jump(s) %s/%s' % (tag, jumps[(tb, c)] - 1, tb, c) for (tb, c, _s) in extra]
            after[str(version)] = ['%s: -A %s %s' % (tag, c, s) for (tb, c, s) in JUMPS]
            after[str(version)] += ['%s: %s' % (tag, line) for key in sorted(wanted) for line in wanted[key]]
            rules[str(version)] = [line for key in sorted(wanted) for line in wanted[key]]
            if module.check_mode:
                continue
            if stale:
                t.restore_chains(wanted)
            for tb, c, s in missing:
                t.run(['-t', tb, '-A', c] + s.split())
            for tb, c, s in extra:
                for _i in range(jumps[(tb, c)] - 1):
                    t.run(['-t', tb, '-D', c] + s.split())
        else:
            after[str(version)] = []
            present_jumps = [(tb, c, s) for (tb, c, s) in JUMPS if jumps[(tb, c)]]
            chains = [key for key in sorted(current) if current[key] is not None]
            actions += ['%s: deleted jump %s/%s' % (tag, tb, c) for (tb, c, _s) in present_jumps]
            actions += ['%s: deleted chain %s/%s' % (tag, tb, c) for (tb, c) in chains]
            if module.check_mode:
                continue
            for tb, c, s in present_jumps:
                for _i in range(jumps[(tb, c)]):   # every copy, duplicates included
                    t.run(['-t', tb, '-D', c] + s.split())
            for tb, c in chains:
                t.run(['-t', tb, '-F', c])
                t.run(['-t', tb, '-X', c])
    if present and p['forwarding']:
        knobs = [('net.ipv4.ip_forward', '/proc/sys/net/ipv4/ip_forward')]
        if p['network6']:
            knobs.append(('net.ipv6.conf.all.forwarding', '/proc/sys/net/ipv6/conf/all/forwarding'))
        for name, path in knobs:
            try:
                with open(path) as f:
                    value = f.read().strip()
            except (IOError, OSError) as e:
                module.fail_json(msg='cannot read %s: %s' % (name, e))
            before.setdefault('sysctl', []).append('%s = %s' % (name, value))
            after.setdefault('sysctl', []).append('%s = 1' % name)
            if value != '1':
                actions.append('%s = 1' % name)
                if not module.check_mode:
                    try:
                        with open(path, 'w') as f:
                            f.write('1\n')
                    except (IOError, OSError) as e:
                        module.fail_json(msg='cannot set %s = 1 (read-only /proc/sys in a container? give the '
                                             'container --sysctl %s=1 or privileges): %s' % (name, name, e))
    if present and p['save_dir']:
        for version, wanted in sorted(families.items()):
            path = os.path.join(p['save_dir'], 'rules.v%d' % version)
            content = restore_input(wanted)
            try:
                with open(path) as f:
                    old = f.read()
            except (IOError, OSError):
                old = None
            if old != content:
                actions.append('wrote %s' % path)
                if not module.check_mode:
                    if not os.path.isdir(p['save_dir']):
                        os.makedirs(p['save_dir'], 0o755)
                    tmp = path + '.tmp'
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    with os.fdopen(fd, 'w') as f:
                        f.write(content)
                    os.rename(tmp, path)
    result = dict(changed=bool(actions), actions=actions, rules=rules)
    if module._diff:
        result['diff'] = dict(before=_text(before), after=_text(after), before_header='hostgw chains', after_header='hostgw chains')
    module.exit_json(**result)


if __name__ == '__main__':
    main()
