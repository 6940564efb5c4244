"""Image pulls as kubelet does them: pull policies, credentials from imagePullSecrets, back-off, events.

A failed pull is retried with exponential back-off per (pod, image), 10 s doubling to 300 s; while
the back-off runs the container waits with ImagePullBackOff, right after a failure with ErrImagePull.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from minikube_py.agent.runtime.base import ImagePullError, RegistryAuth, Runtime
from minikube_py.client.events import EventRecorder

Obj = dict[str, Any]

BACKOFF_START = 10.0
BACKOFF_MAX = 300.0
_DOCKER_HUB = {"docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/"}


class ImageError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def default_pull_policy(image: str) -> str:
    """Always for ``:latest`` or an untagged name, IfNotPresent otherwise (digests count as tags)."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last or last.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def registry_of(image: str) -> str:
    """The registry host of an image reference; Docker Hub for names without one."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def _normalise(server: str) -> str:
    server = server.removeprefix("https://").removeprefix("http://").split("/")[0]
    return "docker.io" if server in _DOCKER_HUB else server


def credentials_for(image: str, pull_secrets: list[Obj]) -> list[RegistryAuth]:
    """Credentials of the given dockerconfigjson/dockercfg Secrets that match the image's registry, in
    the order the pod lists them."""
    wanted = registry_of(image)
    found = []
    for secret in pull_secrets:
        data = secret.get("data") or {}
        try:
            if ".dockerconfigjson" in data:
                entries = json.loads(base64.b64decode(data[".dockerconfigjson"])).get("auths") or {}
            elif ".dockercfg" in data:
                entries = json.loads(base64.b64decode(data[".dockercfg"]))
            else:
                continue
        except ValueError:
            continue
        for server, entry in entries.items():
            if _normalise(server) != wanted:
                continue
            user, password = entry.get("username", ""), entry.get("password", "")
            if entry.get("auth") and not user:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            found.append(RegistryAuth(user, password, server))
    return found


@dataclass
class _Backoff:
    until: float
    delay: float


class ImageManager:
    def __init__(
        self, runtime: Runtime, recorder: EventRecorder, on_used: Callable[[str], None] = lambda _image_id: None
    ) -> None:
        """``on_used`` is told the id of every image :meth:`ensure` hands out for a container."""
        self._runtime = runtime
        self._recorder = recorder
        self._on_used = on_used
        self._backoff: dict[tuple[str, str], _Backoff] = {}

    def forget(self, pod_uid: str) -> None:
        for key in [k for k in self._backoff if k[0] == pod_uid]:
            del self._backoff[key]

    async def ensure(self, pod: Obj, container: Obj, pull_secrets: list[Obj]) -> str:
        """The id of the container's image, pulling it when the policy says so. Raises ImageError."""
        image_id = await self._ensure(pod, container, pull_secrets)
        self._on_used(image_id)
        return image_id

    async def _ensure(self, pod: Obj, container: Obj, pull_secrets: list[Obj]) -> str:
        image = container.get("image", "")
        if not image or any(c.isspace() for c in image):
            raise ImageError(
                "InvalidImageName", f'Failed to apply default image tag "{image}": invalid reference format'
            )
        policy = container.get("imagePullPolicy") or default_pull_policy(image)
        present = await self._runtime.image_id(image)
        if present is not None and policy != "Always":
            self._recorder.emit(pod, "Normal", "Pulled", f'Container image "{image}" already present on machine')
            return present
        if policy == "Never":
            if present is not None:
                return present
            message = f'Container image "{image}" is not present with pull policy of Never'
            self._recorder.emit(pod, "Warning", "ErrImageNeverPull", message)
            raise ImageError("ErrImageNeverPull", message)
        key = (pod["metadata"]["uid"], image)
        backoff = self._backoff.get(key)
        if backoff is not None and time.monotonic() < backoff.until:
            message = f'Back-off pulling image "{image}"'
            self._recorder.emit(pod, "Normal", "BackOff", message)
            raise ImageError("ImagePullBackOff", message)
        self._recorder.emit(pod, "Normal", "Pulling", f'Pulling image "{image}"')
        started = time.monotonic()
        try:
            image_id = await self._pull(image, pull_secrets)
        except ImagePullError as e:
            delay = BACKOFF_START if backoff is None else min(backoff.delay * 2, BACKOFF_MAX)
            self._backoff[key] = _Backoff(time.monotonic() + delay, delay)
            message = f'Failed to pull image "{image}": {e.message}'
            self._recorder.emit(pod, "Warning", "Failed", message)
            self._recorder.emit(pod, "Warning", "Failed", "Error: ErrImagePull")
            raise ImageError("ErrImagePull", message) from None
        self._backoff.pop(key, None)
        self._recorder.emit(
            pod, "Normal", "Pulled", f'Successfully pulled image "{image}" in {time.monotonic() - started:.3f}s'
        )
        return image_id

    async def _pull(self, image: str, pull_secrets: list[Obj]) -> str:
        """Try each matching credential, then anonymously, keeping the first error (the credentials'
        one is the most telling when every attempt fails)."""
        first: ImagePullError | None = None
        for auth in [*credentials_for(image, pull_secrets), None]:
            try:
                return await self._runtime.pull_image(image, auth)
            except ImagePullError as e:
                first = first or e
        assert first is not None
        raise first
