"""Writes a :class:`~minikube_py.netproxy.rules.RuleSet` into the kernel with python-iptables.

python-iptables speaks libiptc, i.e. the *legacy* iptables backend, while Docker on Debian 12 writes
its rules through ``iptables-nft``. Both tables live in the kernel at once and every packet passes
both, which is safe for what pykube does:

- NAT: the first NAT table that sets up a mapping for a connection wins and the other is not asked
  again for it; Docker's nat rules only match Docker's own published ports and bridges, ours only
  service addresses and pod egress, so no connection matches both.
- filter: a packet must be accepted by both backends. Our filter rules only REJECT/DROP service
  ports without endpoints and ACCEPT otherwise. Docker's nft FORWARD chain has policy DROP; the
  cluster CIDR is opened there through Docker's own ``DOCKER-USER`` chain, with the ``iptables``
  binary Docker itself uses (:mod:`.forwarding`).

A sync rewrites every pykube chain of a table and the jumps to them in one libiptc commit, so the
kernel switches from the old rule set to the new one atomically; chains of ours that are no longer
wanted (a deleted service) are removed in the same commit. The whole thing is idempotent, and a
crash between syncs leaves a consistent old set that the next start replaces.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any, Protocol

from minikube_py.netproxy.rules import FILTER, NAT, PREFIX, Rule, RuleSet

log = logging.getLogger(__name__)

_BUILTINS = {NAT: ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"), FILTER: ("INPUT", "FORWARD", "OUTPUT")}
#: libiptc handles are not thread-safe; syncs run in a worker thread, one at a time
_lock = threading.Lock()


class RuleWriter(Protocol):
    """What the proxy needs from the kernel: replace our whole rule set, or remove it."""

    def apply(self, rules: RuleSet) -> None: ...

    def cleanup(self) -> None: ...

    def ours(self) -> list[str]: ...


class IptablesError(RuntimeError):
    """A rule the kernel refused (a missing extension module, a malformed address)."""


def _iptc() -> Any:
    import iptc  # loaded on first use: it needs libiptc, which only nodes that proxy have

    return iptc


def build_rule(iptc: Any, args: Rule) -> Any:
    """An iptables-save argument list (``-s 10.0.0.0/8 -m tcp --dport 80 -j DNAT --to-destination ..``)
    as a python-iptables Rule. A ``!`` negates the option after it."""
    rule = iptc.Rule()
    module: Any = None
    invert = False
    i = 0
    while i < len(args):
        token = args[i]
        if token == "!":
            invert = True
            i += 1
            continue
        value = args[i + 1] if i + 1 < len(args) else ""
        neg = "!" if invert else ""
        invert = False
        if token in ("-s", "-d", "-p", "-i", "-o"):
            attr = {"-s": "src", "-d": "dst", "-p": "protocol", "-i": "in_interface", "-o": "out_interface"}[token]
            setattr(rule, attr, neg + value)
            i += 2
        elif token == "-m":
            module = rule.create_match(value)
            i += 2
        elif token == "-j":
            module = rule.create_target(value)
            i += 2
        elif token.startswith("--"):
            takes_value = i + 1 < len(args) and not args[i + 1].startswith("-") and args[i + 1] != "!"
            if module is None:
                raise IptablesError(f"option {token} outside a match or target in {' '.join(args)}")
            module.set_parameter(token[2:], neg + (value if takes_value else ""))
            i += 2 if takes_value else 1
        else:
            raise IptablesError(f"cannot read {token!r} in {' '.join(args)}")
    return rule


def _ours(rule: Any) -> bool:
    target = rule.target.name if rule.target is not None else ""
    return bool(target.startswith(PREFIX))


class PythonIptables:
    """The real writer: python-iptables on the legacy backend of the current network namespace."""

    def apply(self, rules: RuleSet) -> None:
        iptc = _iptc()
        with _lock:
            for table_name in (NAT, FILTER):
                chains = {c: r for (t, c), r in rules.chains.items() if t == table_name}
                jumps = [(b, r) for t, b, r in rules.jumps if t == table_name]
                self._write_table(iptc, table_name, chains, jumps)

    def cleanup(self) -> None:
        iptc = _iptc()
        with _lock:
            for table_name in (NAT, FILTER):
                self._write_table(iptc, table_name, {}, [])

    def ours(self) -> list[str]:
        """What :meth:`cleanup` would remove, one line each (``pykube cleanup --dry-run``): our chains
        with their rule counts and the jumps to them from the built-in chains."""
        iptc = _iptc()
        found = []
        with _lock:
            for table_name in (NAT, FILTER):
                table = iptc.Table(table_name)
                table.refresh()
                for chain in table.chains:
                    if chain.name.startswith(PREFIX):
                        found.append(f"iptables {table_name} chain {chain.name} ({len(chain.rules)} rules)")
                    elif chain.name in _BUILTINS[table_name]:
                        found += [
                            f"iptables {table_name} {chain.name} jump to {r.target.name}"
                            for r in chain.rules
                            if _ours(r)
                        ]
        return found

    def _write_table(
        self, iptc: Any, table_name: str, chains: dict[str, list[Rule]], jumps: Iterable[tuple[str, Rule]]
    ) -> None:
        table = iptc.Table(table_name)
        table.autocommit = False
        try:
            table.refresh()
            existing = {c.name: c for c in table.chains}
            for builtin in _BUILTINS[table_name]:
                chain = existing.get(builtin)
                if chain is None:
                    continue
                for rule in [r for r in chain.rules if _ours(r)]:
                    chain.delete_rule(rule)
            stale = [c for name, c in existing.items() if name.startswith(PREFIX) and name not in chains]
            for chain in stale:
                chain.flush()
            for name in chains:
                if name in existing:
                    existing[name].flush()
                else:
                    existing[name] = table.create_chain(name)
            for chain in stale:
                table.delete_chain(chain)
            for name, rules in chains.items():
                for args in rules:
                    existing[name].append_rule(build_rule(iptc, args))
            for position, (builtin, args) in enumerate(jumps):
                chain = existing[builtin]
                # insert after the jumps already placed in this chain, so they keep their order
                placed = sum(1 for b, _ in list(jumps)[:position] if b == builtin)
                chain.insert_rule(build_rule(iptc, args), position=placed)
            table.commit()
        except iptc.IPTCError as e:
            raise IptablesError(f"writing the {table_name} table: {e}") from e
        finally:
            table.refresh()
            table.autocommit = True
