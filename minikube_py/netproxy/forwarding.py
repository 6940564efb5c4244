"""Lets pod traffic through the filter of the iptables backend Docker uses.

Docker sets the FORWARD policy of *its* backend (nft on Debian 12) to DROP and accepts only traffic
of its own bridges, so a packet for a pod arriving from another node would be dropped there whatever
our legacy tables say. Docker reserves the ``DOCKER-USER`` chain for exactly this; the rules go there
(or into FORWARD on a host without Docker) through the ``iptables`` command Docker itself runs, which
is therefore the same backend by construction. Each rule carries a comment so cleanup finds them.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

log = logging.getLogger(__name__)

COMMENT = "pykube cluster network"


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables", "-w", "5", *args], capture_output=True, text=True, check=False)


def _chain() -> str:
    return "DOCKER-USER" if _iptables("-S", "DOCKER-USER").returncode == 0 else "FORWARD"


def rules_for(cluster_cidr: str) -> list[list[str]]:
    comment = ["-m", "comment", "--comment", COMMENT]
    return [["-s", cluster_cidr, *comment, "-j", "ACCEPT"], ["-d", cluster_cidr, *comment, "-j", "ACCEPT"]]


def open_forwarding(cluster_cidr: str) -> None:
    """Accept forwarded traffic from and to the cluster CIDR (idempotent); stale CIDRs are removed."""
    if not shutil.which("iptables"):
        log.warning("no iptables command: forwarded pod traffic relies on the FORWARD policy")
        return
    chain = _chain()
    wanted = rules_for(cluster_cidr)
    for rule in _ours(chain):
        if rule not in wanted:
            _iptables("-D", chain, *rule)
    for rule in wanted:
        if _iptables("-C", chain, *rule).returncode != 0:
            done = _iptables("-I", chain, "1", *rule)
            if done.returncode != 0:
                log.warning("cannot open forwarding for %s in %s: %s", cluster_cidr, chain, done.stderr.strip())


def close_forwarding() -> None:
    if not shutil.which("iptables"):
        return
    for chain in ("DOCKER-USER", "FORWARD"):
        for rule in _ours(chain):
            _iptables("-D", chain, *rule)


def leftovers() -> list[str]:
    """The rules :func:`close_forwarding` would remove, as ``iptables -S`` prints them."""
    if not shutil.which("iptables"):
        return []
    return [f"{chain} {' '.join(rule)}" for chain in ("DOCKER-USER", "FORWARD") for rule in _ours(chain)]


def _ours(chain: str) -> list[list[str]]:
    """Our rules in ``chain`` as argument lists (without ``-A chain``)."""
    listing = _iptables("-S", chain)
    rules = []
    for line in listing.stdout.splitlines():
        if COMMENT in line and line.startswith(f"-A {chain} "):
            words = line.split()[2:]
            # the comment was printed quoted: put it back as one argument
            start = words.index("--comment") + 1
            end = next(i for i in range(start, len(words)) if words[i].endswith('"'))
            words[start : end + 1] = [" ".join(words[start : end + 1]).strip('"')]
            rules.append(words)
    return rules
