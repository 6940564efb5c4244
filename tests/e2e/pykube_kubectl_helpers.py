"""Running the same command through ``pykube kubectl`` and the real kubectl, and comparing what they print."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass

from minikube_py.testing import RunningServer

#: an AGE cell: 5s, 3m, 2m30s, 2d4h, <invalid>
_AGE = re.compile(r"(?<![\w/.-])(\d+[smhdy](\d+[smh])?|<invalid>)(?=\s|$)")


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str
    rc: int


def pykube_kubectl(server: RunningServer, *args: str, input: str | None = None,
                   env: dict[str, str] | None = None) -> Result:
    """``pykube kubectl ARGS`` as a user runs it, against ``server``."""
    full_env = {**os.environ, "KUBECONFIG": str(server.kubeconfig), **(env or {})}
    done = subprocess.run([sys.executable, "-m", "minikube_py.cli.main", "kubectl", *args], input=input,
                          capture_output=True, text=True, env=full_env, timeout=60, check=False)
    return Result(done.stdout, done.stderr, done.returncode)


def real_kubectl(server: RunningServer, *args: str, input: str | None = None,
                 env: dict[str, str] | None = None) -> Result:
    done = server.kubectl(*args, input=input, check=False, env=env)
    return Result(done.stdout, done.stderr, done.returncode)


def without_ages(text: str) -> str:
    """Ages replaced and runs of spaces collapsed: two runs a second apart may differ by an AGE only."""
    return re.sub(r" +", " ", _AGE.sub("AGE", text))


def same_output(server: RunningServer, *args: str, input: str | None = None, attempts: int = 4) -> Result:
    """Run ``args`` through both and assert they print the same, byte for byte. An AGE may tick between
    the two runs and change a column's width, so a differing pair is tried again; only when every try
    differs is the comparison made without the ages (and then still exactly on everything else)."""
    for _ in range(attempts):
        ours = pykube_kubectl(server, *args, input=input)
        theirs = real_kubectl(server, *args, input=input)
        if ours == theirs:
            return ours
    assert (without_ages(ours.stdout), without_ages(ours.stderr), ours.rc) == (
        without_ages(theirs.stdout), without_ages(theirs.stderr), theirs.rc), \
        f"kubectl {' '.join(args)}:\n  pykube: {ours!r}\n  kubectl: {theirs!r}"
    return ours
