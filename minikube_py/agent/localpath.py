"""The node's half of the local-path provisioner: where its volumes live, and their deletion.

The PV controller provisions a local-path volume as a directory under the root this node
advertises on its Node (:data:`~minikube_py.model.volumebinding.LOCAL_PATH_ROOT_ANNOTATION`); the
directory itself is made when the first pod mounts it (DirectoryOrCreate). When the claim goes and
the volume's policy is Delete, the controller marks the volume Released and leaves the rest to the
node that holds the files: this module removes the directory and then deletes the PersistentVolume.
Only directories directly under this node's own root are ever removed, whatever a volume says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from pathlib import Path
from typing import Any

from minikube_py.agent.context import NodeContext
from minikube_py.client.errors import ConflictError, NotFoundError
from minikube_py.client.events import EventRecorder
from minikube_py.client.rest import ApiClient, resource_path
from minikube_py.model.volumebinding import local_path_to_delete

log = logging.getLogger(__name__)
Obj = dict[str, Any]

#: seconds before a failed deletion is tried again
RETRY_SECONDS = 5.0


def storage_root(data_dir: Path) -> Path:
    """Where the local-path volumes of a node with this data dir live."""
    return data_dir.absolute() / "storage"


class LocalPathCleaner:
    """Deletes this node's Released local-path volumes of policy Delete, directory first."""

    def __init__(self, client: ApiClient, node: NodeContext, recorder: EventRecorder) -> None:
        self._client = client
        self._node = node.name
        self.root = storage_root(node.data_dir)
        self._recorder = recorder
        self._due: asyncio.Queue[Obj] = asyncio.Queue()

    def on_volume(self, old: Obj | None, new: Obj | None) -> None:
        """Informer handler: a volume of this node that is due for deletion is queued."""
        if new is not None and local_path_to_delete(new, self._node) is not None:
            self._due.put_nowait(new)

    async def run(self) -> None:
        while True:
            volume = await self._due.get()
            try:
                await self.delete(volume)
            except Exception as exc:  # one volume's failure must not stop the node
                log.warning("local-path: deleting volume %s failed: %s", volume["metadata"]["name"], exc)
                asyncio.get_running_loop().call_later(RETRY_SECONDS, self._due.put_nowait, volume)

    async def delete(self, volume: Obj) -> None:
        """Remove the volume's directory, then the volume (only the incarnation that was released)."""
        md = volume["metadata"]
        path = local_path_to_delete(volume, self._node)
        if path is None:
            return
        problem = await asyncio.to_thread(remove_volume_directory, Path(path), self.root)
        if problem is not None:
            self._recorder.emit(
                {"apiVersion": "v1", "kind": "PersistentVolume", **volume}, "Warning", "VolumeFailedDelete", problem
            )
            return
        try:
            await self._client.delete(resource_path("v1", "persistentvolumes", name=md["name"]), uid=md.get("uid"))
        except (NotFoundError, ConflictError):
            return  # gone already, or a new volume of the same name


def remove_volume_directory(directory: Path, root: Path) -> str | None:
    """Remove a volume directory (gone already is fine); why not, when it is not directly under
    ``root`` (symbolic links resolved)."""
    if directory.resolve().parent != root.resolve():
        return f"refusing to delete {directory}: it is not a volume directory under {root}"
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(directory)
    return None
