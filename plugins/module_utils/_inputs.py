# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Planner inputs: from inventory (``hostvars``) to a plan. Controller side, no Ansible imports, no I/O.

``hostvars`` is any mapping of host name to a mapping of that host's variables; Ansible's ``HostVars`` (where
reading a key templates that one value) and plain dicts (tests, ``bench/controller.py``) alike. Per host:

- ``hostvars[host]`` is taken once (in Ansible that computes the host's variables), and only the keys the plan
  needs are read, each once;
- a variable whose template fails, or comes back still holding a template (ansible-core before 2.19 returns
  it as is), is an error naming the host, the variable and its text; never "unset";
- facts are read from ``ansible_facts`` (so ``ANSIBLE_INJECT_FACT_VARS=False`` works), else the top-level
  variable of the same name. Facts are data modules returned, never templates: the host's raw ``ansible_facts``
  is read without templating it (templating it would render every fact of the host, the plan included: O(N)
  per host).
"""

from __future__ import annotations

import ipaddress

from ansible_collections.hostgw.network.plugins.module_utils._lease import (
    DEFAULT_PEERS, MAX_PEERS, gather_records, table_rows)
from ansible_collections.hostgw.network.plugins.module_utils._mesh import find_uplink
from ansible_collections.hostgw.network.plugins.module_utils._vxlan import mark_encapsulated
from ansible_collections.hostgw.network.plugins.module_utils._plan import Member, PlanError, PlanOptions, Pool, name_list, plan_mesh, summarize

__metaclass__ = type  # pylint: disable=invalid-name

MISSING = object()
#: The facts of hostgw_facts (a node's links, addresses, routes, ...), refreshed by every run.
HOST_FACTS = 'hostgw_host'


def run_hosts(task_vars, default=None):
    """The hosts this run is converging now: the current batch (``ansible_play_batch``: with ``serial`` only the
    batch's hosts have been read), else ``ansible_play_hosts``, else ``ansible_play_hosts_all``, else ``default``."""
    for key in ('ansible_play_batch', 'ansible_play_hosts', 'ansible_play_hosts_all'):
        if key in task_vars:
            return task_vars[key]
    return default


def _first_line(exc):
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _looks_templated(value):
    return isinstance(value, str) and ('{{' in value or '{%' in value)


class HostView:
    """One host's variables, each read at most once; templating failures collected in ``errors``."""

    __slots__ = ('name', 'hv', 'errors', '_cache', '_raw_facts')

    def __init__(self, name, hv, errors):
        self.name = name
        self.hv = hv
        self.errors = errors
        self._cache = {}
        self._raw_facts = MISSING

    def _raw(self, key):
        raw = getattr(self.hv, '_vars', None)   # Ansible's HostVarsVars keeps the untemplated variables here
        try:
            return raw.get(key, MISSING) if hasattr(raw, 'get') else MISSING
        except Exception:  # pylint: disable=broad-except
            return MISSING

    def get(self, key):
        """The templated value of ``key``, or ``MISSING`` (not set, set to null, or failed: then in ``errors``)."""
        if key in self._cache:
            return self._cache[key]
        value = MISSING
        try:
            if key in self.hv:
                value = self.hv[key]
        except Exception as e:  # pylint: disable=broad-except  # reported, never taken as "unset"
            raw = self._raw(key)
            self.errors.append('host %s: %s%s failed to template: %s'
                               % (self.name, key, '' if raw is MISSING else ' %r' % (raw,), _first_line(e)))
            value = MISSING
        else:
            if _looks_templated(value):
                self.errors.append('host %s: %s %r did not template (an undefined variable?)' % (self.name, key, value))
                value = MISSING
            elif value is None:
                value = MISSING
        self._cache[key] = value
        return value

    def facts(self):
        """The host's ``ansible_facts`` as stored (not templated), or ``{}``."""
        if self._raw_facts is MISSING:
            facts = self._raw('ansible_facts')
            if facts is MISSING:
                facts = self.get('ansible_facts')
            self._raw_facts = facts if isinstance(facts, dict) or hasattr(facts, 'get') else {}
        return self._raw_facts

    def fact(self, name):
        """Fact ``name`` from ``ansible_facts``, else the top-level variable ``name``; ``MISSING`` when neither."""
        try:
            value = self.facts().get(name)
        except Exception:  # pylint: disable=broad-except
            value = None
        if value is None:
            return self.get(name)
        return value


def _is_blank(value):
    return isinstance(value, str) and not value.strip()


def _is_unset(value):
    return value is MISSING or value is None or _is_blank(value)


def _text(value):
    if value is MISSING or value is None:
        return None
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    return value    # the planner rejects it with the host named


def _ip_or_none(value, version=None):
    """``value`` as an IP address text of ``version`` (any when None), or None (a DNS name, another family)."""
    if not isinstance(value, str):
        return None
    try:
        addr = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if version is not None and addr.version != version:
        return None
    return str(addr)


def _address_of(fact):
    return fact.get('address') if isinstance(fact, dict) else None


def lease_check(pool):
    """A function telling whether a lease's subnet stands on its own (the planner would take it as is).

    ``pool``: the planner's ``Pool`` of the family, ``None`` when the family is not planned (then records are
    never needed), or ``False`` when not known (then any non-blank lease counts).
    """
    if pool is None:
        return lambda subnet: True

    def usable(subnet):
        if not isinstance(subnet, str) or not subnet.strip():
            return False
        if pool is False:
            return True
        try:
            pool.index_of(subnet)
        except ValueError:
            return False
        return True
    return usable


def make_pool(network, subnet_len, subnet_min, subnet_max, version):
    """The family's ``Pool``; ``None`` when IPv6 is not planned, ``False`` when invalid (``plan_mesh`` reports it)."""
    if version == 6 and not network:
        return None
    try:
        return Pool(network, subnet_len, subnet_min, subnet_max, version, 'network6' if version == 6 else 'network')
    except PlanError:
        return False


class Inputs:
    """What ``read_inputs`` gathered: ``members`` (planner ``Member``), ``errors``, ``views`` (name: ``HostView``),
    ``leases_read`` (how many members had a lease variable at all)."""

    __slots__ = ('members', 'errors', 'views', 'leases_read', 'tables_read', 'predicted')

    def __init__(self, members, errors, views, leases_read, tables_read=0, predicted=()):
        self.members = members
        self.errors = errors
        self.views = views
        self.leases_read = leases_read
        self.tables_read = tables_read
        self.predicted = list(predicted)


def gather_tables(views, in_run, need4, need6, records, members_var='hostgw_members', facts_var=HOST_FACTS, group=None):
    """Add to ``records`` (``gather_records``' shape) what the member tables of the hosts in this run say of the
    needy hosts; return ``({host: {node_ip: None}}, {host: {node_ip6: None}}, tables read)``.

    Only tables read in this run count: the host's ``facts_var`` (refreshed by every run) says
    ``members_read``; a table kept in a fact cache from an earlier run is never taken for a current one. A table
    written for another host or another group (a cloned image, a restored state dir) is not taken either. A host's
    own row counts (a host that lost its lease but kept its table gets its subnet back).
    """
    needy = need4 | need6
    ips4, ips6 = {}, {}
    count = 0
    for holder in in_run:
        view = views.get(holder)
        host = view.fact(facts_var) if view is not None else None
        if not isinstance(host, dict) or not host.get('members_read'):
            continue
        table = view.fact(members_var)
        rows = table_rows(table)
        if rows is None or table.get('host') != holder or (group is not None and table.get('group') != group):
            continue
        count += 1
        if len(rows) <= len(needy):
            pairs = [(name, row) for name, row in rows.items() if name in needy]
        else:
            pairs = [(name, rows[name]) for name in needy if name in rows]
        for name, row in pairs:
            rec = records.setdefault(name, ({}, {}))
            if name in need4 and isinstance(row.get('subnet'), str):
                rec[0][row['subnet']] = None
            if name in need6 and isinstance(row.get('subnet6'), str):
                rec[1][row['subnet6']] = None
            if isinstance(row.get('node_ip'), str):
                ips4.setdefault(name, {})[row['node_ip']] = None
            if isinstance(row.get('node_ip6'), str):
                ips6.setdefault(name, {})[row['node_ip6']] = None
    return ips4, ips6, count


def _one(values):
    """The only key of ``values`` (a dict used as an ordered set), or None when there is none or more than one."""
    return next(iter(values)) if values and len(values) == 1 else None


def read_inputs(group_hosts, hostvars, play_hosts, lease_var='hostgw_lease', pools=(False, False), members_var=None,
                facts_var=HOST_FACTS, predict_new=False, group=None):
    """Read every member's variables and facts once. Returns ``Inputs``.

    Peer records are gathered only for the hosts that need them: not pinned, and without a lease the planner
    would take as is (``pools``: the planner's ``(Pool, Pool6)``, ``None`` for a family not planned, ``False``
    when unknown: any non-blank lease then counts). A settled mesh costs N reads of constant-size leases.

    ``members_var``: when the run does not cover the whole group, the fact holding each node's member table; the
    tables of the hosts in the run then record the hosts that no lease or ring record settles (and their node IPs
    where inventory gives none). With ``predict_new``, a member outside the run that no lease, record or table of
    this run knows, while at least one table was read, is taken as new since those tables were written and planned
    as new (by name, as in a full run): what lets parallel slices of one inventory agree on each other's new hosts.
    Without it such a member stays unknown (the plan refuses).
    """
    errors = []
    missing = [name for name in group_hosts if name not in hostvars]
    if missing:
        many = len(missing) > 1
        text = 'host%s %s of the group %s no hostvars' % ('s' if many else '', ', '.join(missing), 'have' if many else 'has')
        return Inputs([], [text], {}, 0)
    usable4 = lease_check(pools[0])
    usable6 = lease_check(pools[1])
    views = {}
    leases = {}
    pins = {}
    need4, need6 = set(), set()
    leases_read = 0
    for name in group_hosts:
        view = views[name] = HostView(name, hostvars[name], errors)
        lease = view.fact(lease_var)
        if lease is MISSING:
            lease = None
        else:
            leases_read += 1
            if not isinstance(lease, dict):
                errors.append('host %s: %s must be a dict (subnet, subnet6, peers), got %r' % (name, lease_var, lease))
                lease = None
        leases[name] = lease
        pins[name] = (view.get('hostgw_subnet'), view.get('hostgw_subnet6'))
        if _is_unset(pins[name][0]) and not usable4((lease or {}).get('subnet')):
            need4.add(name)
        if _is_unset(pins[name][1]) and not usable6((lease or {}).get('subnet6')):
            need6.add(name)
    records, rec_errors = gather_records(leases, need4, need6, lease_var)
    errors.extend(rec_errors)
    play_hosts = set(play_hosts)
    ips4, ips6, tables_read = {}, {}, 0
    if members_var and (need4 or need6):
        in_run = [name for name in group_hosts if name in play_hosts]
        ips4, ips6, tables_read = gather_tables(views, in_run, need4, need6, records, members_var, facts_var, group)
    predicted = []
    members = []
    for name in group_hosts:
        view = views[name]
        node_ip = view.get('hostgw_node_ip')
        if _is_unset(node_ip):
            # An IPv6 ansible_host says nothing about the IPv4 node IP: fall through to the facts.
            node_ip = _ip_or_none(view.get('ansible_host'), 4) or _gathered(view, 'default_ipv4') or _hostgw_host(view, 'default_ipv4')
        node_ip6 = view.get('hostgw_node_ip6')
        if _is_unset(node_ip6):
            node_ip6 = _gathered(view, 'default_ipv6') or _hostgw_host(view, 'default_ipv6')
        if name not in play_hosts:
            # Outside the run, with no node IP in inventory or the fact cache: the one the tables agree on.
            if _is_unset(node_ip):
                node_ip = _one(ips4.get(name))
            if _is_unset(node_ip6):
                node_ip6 = _one(ips6.get(name))
        lease = leases[name]
        rec4, rec6 = (list(r) for r in records.get(name, ({}, {})))
        unrecorded = not rec4 and not rec6 and (name in need4 or name in need6)
        if predict_new and lease is None and tables_read and name not in play_hosts and unrecorded:
            lease = {}      # in no lease, record or table of this run: new since the tables were written
            predicted.append(name)
        members.append(Member(
            name,
            node_ip=_text(node_ip),
            node_ip6=_text(node_ip6),
            pin=_text(pins[name][0]),
            pin6=_text(pins[name][1]),
            lease=None if lease is None else (lease.get('subnet') or ''),
            lease6=None if lease is None else (lease.get('subnet6') or ''),
            record=rec4,
            record6=rec6,
            in_run=name in play_hosts,
        ))
    return Inputs(members, errors, views, leases_read, tables_read, predicted)


def collect_members(group_hosts, hostvars, play_hosts, lease_var='hostgw_lease', pools=(False, False)):
    """``(members, errors)`` of ``read_inputs``."""
    inputs = read_inputs(group_hosts, hostvars, play_hosts, lease_var, pools)
    return inputs.members, inputs.errors


def _gathered(view, name):
    """Ansible's gathered ``ansible_<name>`` fact's address (``ansible_facts.<name>``, else the top-level var)."""
    value = view.get('ansible_' + name)
    if not isinstance(value, dict) or not value:
        facts = view.facts()
        value = facts.get(name) if hasattr(facts, 'get') else None
    return _address_of(value)


def _hostgw_host(view, key, facts_var=HOST_FACTS):
    host = view.fact(facts_var)
    return host.get(key) if isinstance(host, dict) else None


def _node_prefix(addresses, uplink, node_ip):
    """The prefix length of ``node_ip`` on ``uplink`` in a host's facts (None when not there)."""
    for a in addresses or ():
        if a.get('ifname') == uplink and a.get('address') == node_ip and isinstance(a.get('prefixlen'), int):
            return a['prefixlen']
    return None


def host_uplinks(plan, views, facts_var=HOST_FACTS, uplink_var='hostgw_iface', node_networks=False):
    """Add ``uplink`` and ``mtu`` to every host of ``plan`` (None where they cannot be known yet), and with
    ``node_networks`` the ``node_prefix`` of its node IP on the uplink (the node network ``cross_subnet`` decides by).

    From the host's ``facts_var`` facts: the link holding the node IP, or ``uplink_var`` when set (it must exist
    and hold the node IP). Where that fails, or the host reported no facts, the uplink is ``uplink_var`` (or None)
    and the MTU None: pre-flight explains.
    """
    for name, host in plan['hosts'].items():
        view = views.get(name)
        uplink, mtu, prefix = None, None, None
        if view is not None:
            iface = view.get(uplink_var)
            iface = None if _is_unset(iface) else _text(iface)
            facts = view.fact(facts_var)
            if isinstance(facts, dict) and facts.get('links') is not None:
                found, found_mtu, problems = find_uplink(facts.get('links'), facts.get('addresses'), host['node_ip'], iface,
                                                         name, uplink_var)
                if not problems:
                    uplink, mtu = found, found_mtu
                    prefix = _node_prefix(facts.get('addresses'), found, host['node_ip']) if node_networks else None
            else:
                uplink = iface
        host['uplink'] = uplink
        host['mtu'] = mtu
        if node_networks:
            host['node_prefix'] = prefix
    if node_networks:
        mark_encapsulated(plan['hosts'])
    return plan


def no_lease_error(group, lease_var, count):
    return ('no lease was read: none of the %d hosts of the group %s has %s (ansible_facts.%s); run '
            'hostgw.network.hostgw_facts on the group first, as the hostgw.network.hostgw role does, or set '
            'unknown_leases: new when you keep no leases (and pin every host that must never move)'
            % (count, group, lease_var, lease_var))


def _partial_run_hints(inputs, unknown, predict_new):
    """What to run, when a run over part of the group refused hosts outside it that nobody in it knows (``unknown``):
    its own hosts hold no state at all, or tables were read and those hosts may be another slice's new ones."""
    if not unknown or all(m.in_run for m in inputs.members):
        return []
    if inputs.tables_read:
        if predict_new:
            return []
        return ['if those are new hosts that another slice of this job (or a later batch) brings in, set '
                'hostgw_predict_new: true (predict_new) to plan them as new; only when no run over part of the group '
                'has brought in hosts since the last run over the whole group (docs/fleet.md)']
    bare = sorted(m.name for m in inputs.members if m.in_run and m.lease == '' and not m.record)
    if not bare or any(m.in_run and m.lease for m in inputs.members):
        return []
    many = len(bare) > 1
    return ['%s in this run hold%s no lease (new, or wiped) and no host of the run has a member table: %s cannot plan '
            'the mesh alone. Add a converged host to --limit, run the whole group, or refresh the fact cache first '
            '(ansible-playbook playbooks/facts.yml with a fact cache configured)'
            % (name_list(bare), '' if many else 's', 'they' if many else 'it')]


def plan_inventory(group, group_hosts, hostvars, play_hosts, options):
    """The whole planning step of ``hostgw_subnet``: read inputs, plan, add uplinks (each node builds its own lease
    from the plan: ``_lease.lease_of``).

    ``options``: the module's arguments (``network``, ``subnet_len``, ... ``lease_var``, ``unknown_leases``,
    ``lease_peers``, ``facts_var``, ``uplink_var``). Returns the plan; raises ``PlanError`` listing every problem.
    """
    o = options
    k = o.get('lease_peers', DEFAULT_PEERS)
    if k is None:
        k = DEFAULT_PEERS
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_PEERS:
        raise PlanError(['lease_peers %r is out of range: 1-%d' % (k, MAX_PEERS)])
    pools = (make_pool(o['network'], o.get('subnet_len'), o.get('subnet_min'), o.get('subnet_max'), 4),
             make_pool(o.get('network6'), o.get('subnet_len6'), o.get('subnet_min6'), o.get('subnet_max6'), 6))
    lease_var = o.get('lease_var') or 'hostgw_lease'
    partial = bool(set(group_hosts) - set(play_hosts))
    members_var = (o.get('members_var') or None) if partial else None
    inputs = read_inputs(group_hosts, hostvars, play_hosts, lease_var, pools, members_var, o.get('facts_var') or HOST_FACTS,
                         bool(o.get('predict_new')), group)
    if inputs.errors:
        raise PlanError(inputs.errors)
    assume_new = o.get('unknown_leases') == 'new'
    if not assume_new and inputs.leases_read == 0:
        dual = bool(o.get('network6'))
        if any(_is_unset(m.pin) or (dual and _is_unset(m.pin6)) for m in inputs.members):
            raise PlanError([no_lease_error(group, lease_var, len(inputs.members))])
    try:
        plan = plan_mesh(inputs.members, PlanOptions.of(o, assume_new=assume_new))
    except PlanError as e:
        raise PlanError(e.errors + _partial_run_hints(inputs, e.unknown, bool(o.get('predict_new'))), e.unknown)
    summarize(plan, inputs.members)
    plan['members_read'] = inputs.tables_read
    plan['predicted'] = sorted(inputs.predicted)
    if inputs.predicted:
        plan['notes'].append('%s: outside this run and in no lease, record or member table of the hosts in it: planned as '
                             'new hosts (as the run that brings them in plans them, when it sees the same members)'
                             % name_list(sorted(inputs.predicted)))
    errors = []
    for view in inputs.views.values():
        view.errors = errors
    host_uplinks(plan, inputs.views, o.get('facts_var') or HOST_FACTS, o.get('uplink_var') or 'hostgw_iface',
                 o.get('cross_subnet') == 'vxlan')
    if errors:
        raise PlanError(errors)
    plan['group'] = group
    plan['lease_peers'] = k
    return plan


def preflight_inputs(plan, hostvars, play_hosts, facts_var=HOST_FACTS, uplink_var='hostgw_iface', want_names=False,
                     settings=None):
    """What ``hostgw_preflight`` reads: ``(facts, ifaces, names, errors)``.

    ``settings``: a dict to fill with ``{host: {variable: value}}`` of the ``PER_HOST_SETTINGS`` the inventory sets
    for each host of the run that has facts (read through the same view: each host's variables computed once).

    ``facts``: ``{host: facts_var facts}`` of the plan's hosts in this run; ``ifaces``: ``uplink_var`` of the hosts
    the plan has no uplink for (pre-flight explains why); ``names``: each host's ``hostgw_*`` variable names (only
    with ``want_names``: keys, nothing templated). A host of the run without facts is an error: a pre-flight
    without facts checks nothing.
    """
    errors = []
    hosts = plan.get('hosts') if isinstance(plan, dict) else None
    if not isinstance(hosts, dict) or not isinstance(plan.get('network'), str):
        return {}, {}, {}, ['plan is not a plan of hostgw.network.hostgw_subnet (it needs network and hosts): pass '
                            'the plan of the registered result, "{{ planned.plan }}"']
    in_run = set(play_hosts)
    facts, ifaces, names = {}, {}, {}
    without = []
    for name in hosts:
        if name not in in_run and not want_names:
            continue
        if name not in hostvars:
            errors.append('host %s of the plan is not in the inventory' % name)
            continue
        view = HostView(name, hostvars[name], errors)
        if want_names:
            names[name] = [k for k in view.hv if isinstance(k, str) and k.startswith('hostgw_')]
        if name not in in_run:
            continue
        found = view.fact(facts_var)
        if not isinstance(found, dict) or not found:
            without.append(name)
            continue
        facts[name] = found
        if settings is not None:
            settings[name] = _set_vars(view, PER_HOST_SETTINGS)
        if hosts[name].get('uplink') is None or not hosts[name].get('mtu'):
            iface = view.get(uplink_var)
            ifaces[name] = None if _is_unset(iface) else _text(iface)
    how = ('run hostgw.network.hostgw_facts on them first, as the hostgw.network.hostgw role does')
    if without and not facts:
        errors.append('no facts: none of the %d hosts of the plan in this run has %s (ansible_facts.%s); %s'
                      % (len(without), facts_var, facts_var, how))
    elif without:
        errors.append('host%s %s: no %s facts (ansible_facts.%s); %s'
                      % ('s' if len(without) > 1 else '', ', '.join(sorted(without)), facts_var, facts_var, how))
    elif not facts:
        errors.append('none of the %d hosts of the plan is in this run: nothing to check' % len(hosts))
    return facts, ifaces, names, errors


#: The role's variables that name a link, a file or a setting on the host and may be set per host in inventory:
#: pre-flight checks each host's own value (a bad one would otherwise fail on that host after others changed it).
PER_HOST_SETTINGS = ('hostgw_bridge', 'hostgw_iface', 'hostgw_mtu', 'hostgw_cni_conf_name', 'hostgw_cni_conf_dir',
                     'hostgw_state_dir')


def _set_vars(view, names):
    """``{variable: value}`` of the ``names`` the host's variables set (templated once each); unset ones left out."""
    out = {}
    for var in names:
        value = view.get(var)
        if value is not MISSING:
            out[var] = value
    return out
