"""``certificate approve|deny``: a decision on CertificateSigningRequests, written through their
``approval`` subresource as kubectl 1.32 writes it (the condition appended, the read
resourceVersion kept, a conflict read and tried again)."""

from __future__ import annotations

from typing import Any

import click

from minikube_py.client.errors import ConflictError
from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.manifests import read
from minikube_py.kubectl.session import Session, run
from minikube_py.model.certificates import APPROVED, DENIED, GROUP, conditions
from minikube_py.model.times import rfc3339

Obj = dict[str, Any]
_PATH = f"/apis/{GROUP}/v1/certificatesigningrequests"
#: what kubectl tries before giving up on a request that keeps changing under it
_ATTEMPTS = 10
_VERDICTS = {
    APPROVED: ("KubectlApprove", "This CSR was approved by kubectl certificate approve.", "approved"),
    DENIED: ("KubectlDeny", "This CSR was denied by kubectl certificate deny.", "denied"),
}


def decided(csr: Obj, verdict: str, force: bool) -> Obj | None:
    """``csr`` with the ``verdict`` condition appended, for the approval subresource; None when it
    already has it and nothing is to be written (with ``force`` it is written again as it is).
    The opposite verdict cannot be overturned: kubectl refuses, ``--force`` or not."""
    name = csr["metadata"]["name"]
    present = {c.get("type") for c in conditions(csr)}
    opposite = DENIED if verdict == APPROVED else APPROVED
    if opposite in present:
        raise CommandError(f'certificate signing request "{name}" is already {opposite}')
    if verdict in present:
        return csr if force else None
    reason, message, _ = _VERDICTS[verdict]
    condition = {"type": verdict, "status": "True", "reason": reason, "message": message, "lastUpdateTime": rfc3339()}
    status = csr.setdefault("status", {})
    status["conditions"] = [*conditions(csr), condition]
    return csr


def _command(verdict: str, force_help: str) -> click.Command:
    word = _VERDICTS[verdict][2]

    @click.command(name="approve" if verdict == APPROVED else "deny")
    @click.argument("names", nargs=-1)
    @click.option("-f", "--filename", "filenames", multiple=True, help="Files naming the requests.")
    @click.option("-R", "--recursive", is_flag=True, help="Read the directories of -f recursively.")
    @click.option("--force", is_flag=True, help=force_help)
    @click.option("-o", "--output", type=click.Choice(["", "name"]), default="")
    def command(names: tuple[str, ...], filenames: tuple[str, ...], recursive: bool, force: bool, output: str) -> None:
        listed = read(filenames, recursive) if filenames else []
        targets = [*names, *(m.obj.get("metadata", {}).get("name", "") for m in listed)]
        if not targets:
            raise CommandError("one or more CSRs must be specified as <name> or -f <filename>")

        async def work(session: Session) -> None:
            for name in targets:
                for attempt in range(_ATTEMPTS):
                    body = decided(await session.api.get(f"{_PATH}/{name}"), verdict, force)
                    if body is None:
                        break
                    try:
                        await session.api.replace(f"{_PATH}/{name}/approval", body)
                        break
                    except ConflictError:
                        if attempt == _ATTEMPTS - 1:
                            raise
                ref = f"certificatesigningrequest.{GROUP}/{name}"
                click.echo(ref if output == "name" else f"{ref} {word}")

        run(work)

    command.help = f"{'Approve' if verdict == APPROVED else 'Deny'} certificate signing requests."
    return command


@click.group()
def certificate() -> None:
    """Modify certificate resources: approve or deny certificate signing requests."""


certificate.add_command(_command(APPROVED, "Update the CSR even if it is already approved."))
certificate.add_command(_command(DENIED, "Update the CSR even if it is already denied."))
