"""Pod volumes on the node's disk: emptyDir (and tmpfs-backed Memory), hostPath, secret, configMap,
downwardAPI, projected volumes of those and of ServiceAccount tokens (the ``kube-api-access-*``
volume every pod gets: token, CA and namespace), and persistentVolumeClaim (the hostPath or local
directory of the claim's bound volume).

Projected files are written the way kubelet's atomic writer does: into a fresh timestamped directory,
then the ``..data`` symlink is swapped to it in one rename, and the visible names are symlinks through
``..data``. A running container therefore sees a Secret update all at once, never a half-written set.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from minikube_py.agent.env import Lookup
from minikube_py.agent.runtime.base import Mount
from minikube_py.model.nodegraph import CONFIGMAPS, SECRETS, pod_references
from minikube_py.model.quantity import value

log = logging.getLogger(__name__)
Obj = dict[str, Any]
#: a cluster-scoped object by name (a PersistentVolume), None when the cache has none
NamedLookup = Callable[[str], Obj | None]

_HOST_PATH_CHECKS = {
    "Directory": (Path.is_dir, "is not a directory"),
    "File": (Path.is_file, "is not a file"),
    "Socket": (Path.is_socket, "is not a socket"),
    "CharDevice": (Path.is_char_device, "is not a character device"),
    "BlockDevice": (Path.is_block_device, "is not a block device"),
}


#: the token a projected ``serviceAccountToken`` source (second argument) holds for a pod (first)
#: now; None while none was issued
TokenLookup = Callable[[Obj, Obj], str | None]
#: the kinds of volume whose files the node writes
_WRITTEN = ("secret", "configMap", "downwardAPI", "projected")


def _no_tokens(pod: Obj, source: Obj) -> str | None:
    return None


class VolumeError(Exception):
    """A volume cannot be set up; reported as a FailedMount event while the pod waits."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _files_of(
    volume: Obj, pod: Obj, secret: Lookup, configmap: Lookup, token: TokenLookup = _no_tokens
) -> tuple[dict[str, tuple[bytes, int]], bool]:
    """(relative path → (content, mode)) for a projected volume, and whether it exists at all (an
    optional, missing source gives an empty volume)."""
    namespace = pod["metadata"]["namespace"]
    name = volume["name"]
    if "projected" in volume:
        return _projected_files(volume, pod, secret, configmap, token), True
    if "secret" in volume:
        source = volume["secret"]
        obj = secret(namespace, source.get("secretName", ""))
        kind, what = "secret", source.get("secretName", "")
        data = {k: base64.b64decode(v) for k, v in ((obj or {}).get("data") or {}).items()}
    elif "configMap" in volume:
        source = volume["configMap"]
        obj = configmap(namespace, source.get("name", ""))
        kind, what = "configmap", source.get("name", "")
        data = {k: v.encode() for k, v in ((obj or {}).get("data") or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in ((obj or {}).get("binaryData") or {}).items()})
    else:
        source = volume["downwardAPI"]
        md = pod["metadata"]
        files = {}
        for item in source.get("items") or []:
            path = (item.get("fieldRef") or {}).get("fieldPath", "")
            if path in ("metadata.labels", "metadata.annotations"):
                mapping = md.get(path.split(".")[1]) or {}
                text = "\n".join(f'{k}="{v}"' for k, v in sorted(mapping.items()))
            elif path in ("metadata.name", "metadata.namespace", "metadata.uid"):
                text = md.get(path.split(".")[1], "")
            else:
                raise VolumeError(f'MountVolume.SetUp failed for volume "{name}" : unsupported fieldPath {path}')
            files[item["path"]] = (text.encode(), item.get("mode", source.get("defaultMode", 0o644)))
        return files, True
    if obj is None:
        if source.get("optional"):
            return {}, False
        raise VolumeError(f'MountVolume.SetUp failed for volume "{name}" : {kind} "{what}" not found')
    mode = source.get("defaultMode", 0o644)
    if source.get("items"):
        files = {}
        for item in source["items"]:
            if item["key"] not in data:
                if source.get("optional"):
                    continue
                raise VolumeError(
                    f'MountVolume.SetUp failed for volume "{name}" : configmap references non-existent '
                    f"config key: {item['key']}"
                    if kind == "configmap"
                    else f'MountVolume.SetUp failed for volume "{name}" : references non-existent secret '
                    f"key: {item['key']}"
                )
            files[item["path"]] = (data[item["key"]], item.get("mode", mode))
        return files, True
    return {key: (content, mode) for key, content in data.items()}, True


def claim_sources(pod: Obj, claim: Lookup, volume: NamedLookup) -> dict[str, Obj]:
    """The directory behind each ``persistentVolumeClaim`` volume of ``pod``, by volume name, as a
    hostPath source (path and type check): the bound volume's ``hostPath`` as it is, a ``local``
    volume's path, which must be a directory already. Raises VolumeError while a claim is missing
    or unbound (kubelet's words), or its volume is of a kind this node cannot mount."""
    namespace = pod["metadata"]["namespace"]
    sources: dict[str, Obj] = {}
    for spec_volume in (pod.get("spec") or {}).get("volumes") or []:
        source = spec_volume.get("persistentVolumeClaim")
        if not isinstance(source, dict):
            continue
        name, claim_name = spec_volume["name"], source.get("claimName", "")
        obj = claim(namespace, claim_name)
        if obj is None:
            raise _unprocessed(
                name,
                f"error processing PVC {namespace}/{claim_name}: failed to fetch PVC from API "
                f'server: persistentvolumeclaims "{claim_name}" not found',
            )
        volume_name = (obj.get("spec") or {}).get("volumeName")
        if not volume_name or (obj.get("status") or {}).get("phase") != "Bound":
            raise _unprocessed(name, f"error processing PVC {namespace}/{claim_name}: PVC is not bound")
        pv = volume(volume_name)
        if pv is None:
            raise _unprocessed(
                name,
                f"error processing PVC {namespace}/{claim_name}: failed to fetch PV {volume_name} "
                f'from API server: persistentvolumes "{volume_name}" not found',
            )
        pv_spec = pv.get("spec") or {}
        if isinstance(pv_spec.get("hostPath"), dict):
            sources[name] = {"path": pv_spec["hostPath"].get("path", ""), "type": pv_spec["hostPath"].get("type", "")}
        elif isinstance(pv_spec.get("local"), dict):
            sources[name] = {"path": pv_spec["local"].get("path", ""), "type": "Directory"}
        else:
            kind = next(
                (
                    k
                    for k in pv_spec
                    if isinstance(pv_spec[k], dict) and k not in ("capacity", "claimRef", "nodeAffinity")
                ),
                "unknown",
            )
            raise VolumeError(
                f'MountVolume.SetUp failed for volume "{volume_name}" : volumes of type {kind} cannot be '
                "mounted on this node"
            )
    return sources


def _unprocessed(name: str, why: str) -> VolumeError:
    return VolumeError(
        f"Unable to attach or mount volumes: unmounted volumes=[{name}], unattached volumes=[], "
        f"failed to process volumes=[{name}]: {why}"
    )


def _projected_files(
    volume: Obj, pod: Obj, secret: Lookup, configmap: Lookup, token: TokenLookup
) -> dict[str, tuple[bytes, int]]:
    """Every source of a projected volume in one directory; each source is read as the volume of its
    kind would be (a projected secret names its Secret ``name``, not ``secretName``)."""
    projected = volume["projected"] or {}
    mode = projected.get("defaultMode", 0o644)
    files: dict[str, tuple[bytes, int]] = {}
    for source in projected.get("sources") or []:
        if "serviceAccountToken" in source:
            request = source["serviceAccountToken"]
            value = token(pod, request)
            if value is None:
                raise VolumeError(
                    f'MountVolume.SetUp failed for volume "{volume["name"]}" : failed to fetch token: '
                    "the service account token is not issued yet"
                )
            files[request.get("path", "token")] = (value.encode(), request.get("mode", mode))
            continue
        for kind in ("secret", "configMap", "downwardAPI"):
            if kind in source:
                part = dict(source[kind] or {})
                if kind == "secret":
                    part["secretName"] = part.pop("name", "")
                part.setdefault("defaultMode", mode)
                found, _ = _files_of({"name": volume["name"], kind: part}, pod, secret, configmap)
                files.update(found)
    return files


def _write_atomically(directory: Path, files: dict[str, tuple[bytes, int]]) -> bool:
    """Publish ``files`` under ``directory`` through a ``..data`` symlink swap; False if unchanged."""
    directory.mkdir(parents=True, exist_ok=True)
    current = directory / "..data"
    if current.is_symlink():
        old = current.resolve()
        same = all(
            (old / rel).is_file()
            and (old / rel).read_bytes() == content
            and ((old / rel).stat().st_mode & 0o7777) == mode
            for rel, (content, mode) in files.items()
        )
        existing = {str(p.relative_to(old)) for p in old.rglob("*") if p.is_file()}
        if same and existing == set(files):
            return False
    fresh = directory / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
    fresh.mkdir()
    for rel, (content, mode) in files.items():
        target = fresh / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        os.chmod(target, mode)
    previous = current.resolve() if current.is_symlink() else None
    link = directory / "..data_tmp"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    link.symlink_to(fresh.name)
    os.replace(link, current)
    for rel in {r.split("/")[0] for r in files}:
        visible = directory / rel
        if not visible.is_symlink():
            visible.symlink_to(f"..data/{rel}")
    for entry in directory.iterdir():  # names the new data no longer has
        if (
            entry.is_symlink()
            and not entry.name.startswith("..")
            and entry.name not in {r.split("/")[0] for r in files}
        ):
            entry.unlink()
    if previous is not None and previous != fresh:
        shutil.rmtree(previous, ignore_errors=True)
    return True


class VolumeManager:
    """Volumes live under ``root/<pod uid>/volumes/<plugin>/<name>`` and go with the pod."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, pod: Obj, plugin: str, name: str) -> Path:
        return self.root / pod["metadata"]["uid"] / "volumes" / plugin / name

    def empty_dir(self, pod: Obj, name: str) -> Path:
        """Where the pod's emptyDir volume ``name`` is."""
        return self._dir(pod, "empty-dir", name)

    def setup(
        self,
        pod: Obj,
        *,
        secret: Lookup,
        configmap: Lookup,
        claims: Mapping[str, Obj] | None = None,
        token: TokenLookup = _no_tokens,
    ) -> None:
        """Create every volume of the pod; idempotent. Raises VolumeError for the first failing one.
        ``claims`` are the pod's claim volumes resolved by :func:`claim_sources`; ``token`` gives the
        ServiceAccount tokens of projected volumes."""
        claims = claims or {}
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = volume["name"]
            if name in claims:
                _check_host_path(name, claims[name])
            elif "emptyDir" in volume:
                path = self.empty_dir(pod, name)
                if not path.exists():
                    path.mkdir(parents=True)
                    empty = volume["emptyDir"] or {}
                    if empty.get("medium") == "Memory":
                        _mount_tmpfs(path, empty.get("sizeLimit"))
                    _own(path, ((pod.get("spec") or {}).get("securityContext") or {}).get("fsGroup"))
            elif "hostPath" in volume:
                _check_host_path(name, volume["hostPath"])
            elif any(k in volume for k in _WRITTEN):
                files, _ = _files_of(volume, pod, secret, configmap, token)
                _write_atomically(self._dir(pod, _plugin(volume), name), files)

    def refresh(self, pod: Obj, *, secret: Lookup, configmap: Lookup, token: TokenLookup = _no_tokens) -> bool:
        """Rewrite projected volumes whose sources changed (a renewed token too); True if any did.
        Missing sources are left as they were (kubelet keeps the last content it had)."""
        changed = False
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            if any(k in volume for k in _WRITTEN):
                try:
                    files, exists = _files_of(volume, pod, secret, configmap, token)
                except VolumeError:
                    continue
                if exists:
                    changed |= _write_atomically(self._dir(pod, _plugin(volume), volume["name"]), files)
        return changed

    def mounts(self, pod: Obj, container: Obj, claims: Mapping[str, Obj] | None = None) -> list[Mount]:
        volumes = {v["name"]: v for v in (pod.get("spec") or {}).get("volumes") or []}
        result = []
        for vm in container.get("volumeMounts") or []:
            volume = volumes.get(vm["name"])
            if volume is None:
                continue
            claim = volume.get("persistentVolumeClaim")
            if isinstance(claim, dict):
                source_obj = (claims or {}).get(vm["name"])
                if source_obj is None:
                    raise VolumeError(f'MountVolume.SetUp failed for volume "{vm["name"]}" : claim not resolved')
                volume = {"name": vm["name"], "hostPath": source_obj}
                if claim.get("readOnly"):
                    vm = {**vm, "readOnly": True}
            if "hostPath" in volume:
                source = Path(volume["hostPath"]["path"])
            elif "emptyDir" in volume:
                source = self.empty_dir(pod, vm["name"])
            else:
                source = self._dir(pod, _plugin(volume), vm["name"])
            projected = _plugin(volume) != "empty-dir" and "hostPath" not in volume
            if vm.get("subPath"):
                source = source / vm["subPath"]
                if not projected and not source.exists():
                    source.mkdir(parents=True)
                source = source.resolve() if projected else source
            result.append(
                Mount(target=vm["mountPath"], source=str(source), read_only=bool(vm.get("readOnly")) or projected)
            )
        return result

    @staticmethod
    def referenced(pod: Obj) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """(secrets, configmaps) the pod reads, as (namespace, name): through volumes, env, envFrom
        and image pull secrets (the objects the Node authorizer lets its node read)."""
        ns = pod["metadata"]["namespace"]
        refs = pod_references(pod)
        return (
            {(ns, name) for kind, name in refs if kind == SECRETS},
            {(ns, name) for kind, name in refs if kind == CONFIGMAPS},
        )

    def teardown(self, pod_uid: str) -> None:
        base = self.root / pod_uid
        memory = base / "volumes" / "empty-dir"
        if memory.is_dir():
            for path in memory.iterdir():
                if os.path.ismount(path):
                    subprocess.run(["umount", str(path)], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)

    def existing_pod_uids(self) -> set[str]:
        return {p.name for p in self.root.iterdir()} if self.root.is_dir() else set()


def _plugin(volume: Obj) -> str:
    for key, plugin in (
        ("secret", "secret"),
        ("configMap", "configmap"),
        ("downwardAPI", "downward-api"),
        ("projected", "projected"),
    ):
        if key in volume:
            return plugin
    return "empty-dir"


def _own(path: Path, fs_group: int | None) -> None:
    """A new emptyDir is writable by everyone; with the pod's ``fsGroup`` it belongs to that group and
    new files inherit it (set-gid), as the kubelet sets a volume's ownership."""
    os.chmod(path, 0o777)
    if fs_group is None:
        return
    try:
        os.chown(path, -1, fs_group)
        os.chmod(path, 0o2777)
    except OSError as e:  # an agent that is not root cannot give the directory away
        log.warning("emptyDir %s: cannot give it to fsGroup %s (%s)", path, fs_group, e.strerror)


def _mount_tmpfs(path: Path, size_limit: Any) -> None:
    """A memory-backed emptyDir: a tmpfs no larger than its ``sizeLimit`` (else the kernel's default,
    half the memory), so a pod cannot write more there than its spec allows."""
    options = "mode=0777"
    with contextlib.suppress(ValueError):
        if size_limit is not None and (size := value(str(size_limit))) > 0:
            options += f",size={size}"
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        log.warning("emptyDir %s: tmpfs mount failed (%s); using the disk", path, done.stderr.strip())


def _check_host_path(name: str, source: Obj) -> None:
    path = Path(source["path"])
    kind = source.get("type", "")
    if kind == "DirectoryOrCreate":
        path.mkdir(parents=True, exist_ok=True)
    elif kind == "FileOrCreate":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
    elif kind in _HOST_PATH_CHECKS:
        check, problem = _HOST_PATH_CHECKS[kind]
        if not check(path):
            raise VolumeError(
                f'MountVolume.SetUp failed for volume "{name}" : hostPath type check failed: {path} {problem}'
            )
