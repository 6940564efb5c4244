"""The pause image: the process that holds each pod's network namespace while its containers come and go.

Kubernetes pulls registry.k8s.io/pause; here no registry may be reachable, so the agent makes the image
itself: a static ELF executable of a few hundred bytes, written out below instruction by instruction,
that sleeps in pause(2) forever. It needs no libc and no base image, and it is the same on every node.
"""

from __future__ import annotations

import io
import platform
import struct
import tarfile

from minikube_py.agent.runtime.docker import DockerRuntime

PAUSE_IMAGE = "pykube.local/pause:1"

#: machine code per architecture: "loop: pause(); goto loop" (the sandbox is stopped with SIGKILL)
_CODE = {
    # mov eax, 34 (pause); syscall; jmp back to the mov
    "x86_64": (62, bytes.fromhex("b822000000") + bytes.fromhex("0f05") + bytes.fromhex("ebf7")),
    # aarch64 has no pause syscall: ppoll(NULL, 0, NULL, NULL) with x8 = 73 blocks until a signal
    "aarch64": (
        183,
        struct.pack("<6I", 0xD2800000, 0xD2800001, 0xD2800002, 0xD2800003, 0xD2800928, 0xD4000001)
        + struct.pack("<I", 0x17FFFFFA),
    ),
}


def pause_elf(machine: str | None = None) -> bytes:
    """A minimal static ELF64 executable: one header, one loadable segment holding header and code."""
    arch = machine or platform.machine()
    if arch not in _CODE:
        raise RuntimeError(f"no pause binary for architecture {arch}")
    e_machine, code = _CODE[arch]
    base = 0x400000
    header_size, phdr_size = 64, 56
    entry = base + header_size + phdr_size
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, little endian, current version, SysV
    elf_header = ident + struct.pack(
        "<HHIQQQIHHHHHH", 2, e_machine, 1, entry, header_size, 0, 0, header_size, phdr_size, 1, 0, 0, 0
    )
    size = header_size + phdr_size + len(code)
    program_header = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)  # PT_LOAD, R+X
    return elf_header + program_header + code


def pause_rootfs_tar(machine: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        binary = pause_elf(machine)
        info = tarfile.TarInfo("pause")
        info.size, info.mode = len(binary), 0o755
        tar.addfile(info, io.BytesIO(binary))
    return buffer.getvalue()


async def ensure_pause_image(runtime: DockerRuntime, image: str = PAUSE_IMAGE) -> str:
    """Import the pause image into the engine unless it is there already; returns its name."""
    if await runtime.image_id(image) is not None:
        return image
    await runtime.import_image(image, pause_rootfs_tar(), ["/pause"])
    return image
