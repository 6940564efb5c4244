"""Running the same command through ``pykube kubectl`` and the real kubectl, and comparing what they print."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubectl_helpers import Kubectl

from minikube_py.testing import RunningServer

#: an AGE cell: 5s, 3m, 2m30s, 2d4h, <invalid>
_AGE = re.compile(r"(?<![\w/.-])(\d+[smhdy](\d+[smh])?|<invalid>)(?=\s|$)")


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str
    rc: int


def pykube_kubectl(
    server: RunningServer, *args: str, input: str | None = None, env: dict[str, str] | None = None
) -> Result:
    """``pykube kubectl ARGS`` as a user runs it, against ``server``."""
    full_env = {**os.environ, "KUBECONFIG": str(server.kubeconfig), **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "minikube_py.cli.main", "kubectl", *args],
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )
    return Result(done.stdout, done.stderr, done.returncode)


def real_kubectl(
    server: RunningServer, *args: str, input: str | None = None, env: dict[str, str] | None = None
) -> Result:
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
        without_ages(theirs.stdout),
        without_ages(theirs.stderr),
        theirs.rc,
    ), f"kubectl {' '.join(args)}:\n  pykube: {ours!r}\n  kubectl: {theirs!r}"
    return ours


class Twins:
    """Runs each step both ways and compares, with the twin's names (and file names) swapped."""

    def __init__(self, k: Kubectl, tmp: Path) -> None:
        self.k = k
        self.tmp = tmp

    def step(
        self,
        command: str,
        files: Callable[[str], str] | None = None,
        rc: int | None = None,
        env: dict[str, str] | None = None,
        mask: str | None = None,
    ) -> Result:
        """``command`` with ``{s}`` the twin's suffix (``{file}`` the file ``files`` writes for it),
        through both CLIs; ``mask``: a pattern of text allowed to differ (a hash of the twin's template)."""
        results = []
        for suffix, runner in (("x1", pykube_kubectl), ("x2", real_kubectl)):
            args = command.replace("{s}", suffix).split(" ")
            if files is not None:
                path = self.tmp / f"m-{suffix}.yaml"
                path.write_text(files(suffix))
                args = [str(path) if a == "{file}" else a for a in args]
            results.append(runner(self.k.server, "-n", self.k.namespace, *args, env=env))
        ours, theirs = results
        swap = {"-x1": "-x2"}

        def twin(text: str) -> str:
            for a, b in swap.items():
                text = text.replace(a, b)
            return masked(text)

        def masked(text: str) -> str:
            return re.sub(mask, "<masked>", text) if mask else text

        assert (twin(ours.stdout), twin(ours.stderr), ours.rc) == (
            masked(theirs.stdout),
            masked(theirs.stderr),
            theirs.rc,
        ), f"{command}\n  pykube: {ours}\n  kubectl: {theirs}"
        if rc is not None:
            assert ours.rc == rc, (command, ours)
        return ours

    def obj(self, kind: str, name: str) -> dict:  # type: ignore[type-arg]
        return self.k.obj(kind, name)
