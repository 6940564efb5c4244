"""``pykube kubectl run -i`` and ``debug``'s objects, as kubectl 1.32 builds them."""

from __future__ import annotations

import re

from minikube_py.kubectl.attach import debug_container_name, ephemeral_container, running_and_ready
from minikube_py.kubectl.generate import pod_for_run


def test_run_with_stdin_keeps_it_open_for_one_attach() -> None:
    pod = pod_for_run(
        "x", "busybox", labels={}, env=[], port=None, restart="Never", pull_policy=None, command=False, args=(),
        namespace=None, stdin=True, tty=True,
    )  # fmt: skip
    container = pod["spec"]["containers"][0]
    assert list(container)[-3:] == ["stdin", "stdinOnce", "tty"]
    assert (container["stdin"], container["stdinOnce"], container["tty"]) == (True, True, True)


def test_debug_containers_are_named_and_built_as_kubectl_does() -> None:
    name = debug_container_name({"main"})
    assert re.fullmatch(r"debugger-[bcdfghjklmnpqrstvwxz2456789]{5}", name)
    built = ephemeral_container(
        name, "busybox", ("sh",), arguments_only=False, stdin=True, tty=False, target="main", env=[], pull_policy=None
    )
    assert built == {
        "name": name,
        "image": "busybox",
        "command": ["sh"],
        "resources": {},
        "terminationMessagePolicy": "File",
        "stdin": True,
        "targetContainerName": "main",
    }


def test_attaching_waits_for_a_running_ready_pod_or_one_that_finished() -> None:
    ready = {"type": "Ready", "status": "True"}
    assert not running_and_ready({"status": {"phase": "Pending"}})
    assert not running_and_ready({"status": {"phase": "Running", "conditions": []}})
    assert running_and_ready({"status": {"phase": "Running", "conditions": [ready]}})
    assert running_and_ready({"status": {"phase": "Succeeded"}})
