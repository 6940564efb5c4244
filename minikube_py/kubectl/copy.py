"""``cp``: files and directories to and from a container, as kubectl does it: a tar stream over exec
(``tar cf - PATH`` in the container to copy out, ``tar -xmf - -C DIR`` to copy in), so the container
needs a ``tar`` and nothing else."""

from __future__ import annotations

import io
import os
import posixpath
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.pods import exec_collect
from minikube_py.kubectl.session import Session, run

Obj = dict[str, Any]


@dataclass(frozen=True)
class FileSpec:
    """``[[namespace/]pod:]path``: a pod's file when ``pod`` is set, else a local one."""

    path: str
    pod: str = ""
    namespace: str = ""


def parse_spec(text: str) -> FileSpec:
    if ":" not in text:
        return FileSpec(text)
    where, _, path = text.partition(":")
    parts = where.split("/")
    if len(parts) > 2 or not all(parts):
        raise CommandError("filespec must match the canonical format: [[namespace/]pod:]file/path")
    if not path:
        raise CommandError("filepath can not be empty")
    return FileSpec(path, parts[-1], parts[0] if len(parts) == 2 else "")


def tar_of(source: Path, name: str) -> bytes:
    """``source`` (a file or a whole directory) as a tar stream whose top entry is ``name``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(str(source), arcname=name)
    return buffer.getvalue()


def untar_into(data: bytes, prefix: str, dest: Path) -> None:
    """Write the entries under ``prefix`` of a tar stream to ``dest`` (the entry ``prefix`` itself
    becomes ``dest``); entries that would land outside ``dest`` and symlinks are skipped with
    kubectl's warnings."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as archive:
        for member in archive:
            if not member.name.startswith(prefix):
                raise CommandError("tar contents corrupted")
            target = Path(os.path.normpath(os.path.join(dest, member.name[len(prefix) :].lstrip("/"))))
            base = Path(os.path.abspath(dest))
            if Path(os.path.abspath(target)) != base and base not in Path(os.path.abspath(target)).parents:
                click.echo(f'warning: file "{target}" is outside target destination, skipping', err=True)
                continue
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.issym() or member.islnk():
                click.echo(f'warning: skipping symlink: "{target}" -> "{member.linkname}"', err=True)
            elif member.isfile():
                target.parent.mkdir(parents=True, exist_ok=True)
                source = archive.extractfile(member)
                assert source is not None
                target.write_bytes(source.read())


@click.command(name="cp")
@click.argument("source")
@click.argument("destination")
@click.option("-c", "--container", default=None, help="The container to copy from or to.")
@click.option("--no-preserve", is_flag=True, help="Do not keep ownership and permissions in the container.")
def cp(source: str, destination: str, container: str | None, no_preserve: bool) -> None:
    """Copy files and directories to and from containers."""
    src, dest = parse_spec(source), parse_spec(destination)
    if not src.pod and not dest.pod:
        raise CommandError("one of src or dest must be a remote file specification")
    if src.pod and dest.pod:
        raise CommandError("one of src or dest must be a local file specification")
    if dest.pod and not Path(src.path).exists():
        raise CommandError(f"{src.path} doesn't exist in local filesystem")

    async def work(session: Session) -> int:
        remote = src if src.pod else dest
        namespace = remote.namespace or session.namespace
        pod = await session.api.get(f"/api/v1/namespaces/{namespace}/pods/{remote.pod}")
        if src.pod:
            return await _from_pod(session, pod, container, src.path, Path(dest.path))
        return await _to_pod(session, pod, container, Path(src.path), dest.path, no_preserve)

    run(work)


async def _from_pod(session: Session, pod: Obj, container: str | None, path: str, dest: Path) -> int:
    out, err, code = await exec_collect(session, pod, container, ["tar", "cf", "-", path])
    sys.stdout.buffer.write(err)  # kubectl shows the container tar's complaints on its standard output
    sys.stdout.flush()
    if not out:
        return _ended(code)
    try:
        untar_into(out, path.lstrip("/"), dest)
    except tarfile.ReadError:
        if code:
            return _ended(code)
        raise CommandError("tar contents corrupted") from None
    # a whole archive arrived: kubectl is done before it hears how tar exited (a missing path is no error)
    return 0


def _ended(code: int) -> int:
    """The exit code of the container's tar, said as exec says it."""
    if code:
        click.echo(f"command terminated with exit code {code}", err=True)
    return code


async def _to_pod(session: Session, pod: Obj, container: str | None, source: Path, dest: str, no_preserve: bool) -> int:
    if dest.endswith("/"):
        dest = posixpath.join(dest, source.name)
    else:
        _, _, is_dir = await exec_collect(session, pod, container, ["test", "-d", dest])
        if is_dir == 0:
            dest = posixpath.join(dest, source.name)
    command = ["tar", "--no-same-permissions", "--no-same-owner", "-xmf", "-"] if no_preserve else ["tar", "-xmf", "-"]
    directory = posixpath.dirname(dest)
    if directory:
        command += ["-C", directory]
    _, err, code = await exec_collect(session, pod, container, command, tar_of(source, posixpath.basename(dest)))
    sys.stderr.buffer.write(err)
    sys.stderr.flush()
    return _ended(code)
