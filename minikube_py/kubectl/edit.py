"""``kubectl edit``: the live object in ``$KUBE_EDITOR``/``$EDITOR`` as YAML, and what was changed
sent back as a patch (a strategic merge patch, a JSON merge patch for kinds without merge rules)."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

import click
import yaml

from minikube_py.client.errors import ApiError
from minikube_py.kubectl.get import named_objects, without_managed_fields
from minikube_py.kubectl.printing import go_yaml
from minikube_py.kubectl.session import Session, error_text, run
from minikube_py.kubectl.threeway import three_way_patch
from minikube_py.kubectl.write import merge_rules

HEADER = (
    "# Please edit the object below. Lines beginning with a '#' will be ignored,\n"
    "# and an empty file will abort the edit. If an error occurs while saving this file will be\n"
    "# reopened with the relevant failures.\n#\n"
)


def _edit(text: str) -> str:
    """``text`` after the user's editor has had it: kubectl's editor choice (KUBE_EDITOR, EDITOR, vi),
    run through the shell when it carries arguments."""
    editor = os.environ.get("KUBE_EDITOR") or os.environ.get("EDITOR") or "vi"
    with tempfile.NamedTemporaryFile("w", prefix="kubectl-edit-", suffix=".yaml", delete=False) as f:
        f.write(text)
        path = Path(f.name)
    try:
        command = ["sh", "-c", f"{editor} {shlex.quote(str(path))}"] if " " in editor else [editor, str(path)]
        if subprocess.run(command, check=False).returncode != 0:
            raise click.ClickException(f'there was a problem with the editor "{editor}"')
        return path.read_text()
    finally:
        path.unlink(missing_ok=True)


@click.command()
@click.argument("args", nargs=-1)
def edit(args: tuple[str, ...]) -> None:
    """Edit a resource on the server with the default editor."""

    async def work(session: Session) -> int:
        failed = False
        for res, namespace, name in await named_objects(session, args):
            path = res.path(namespace, name)
            original = without_managed_fields(await session.api.get(path))
            edited_text = _edit(HEADER + go_yaml(original))
            body = "".join(line for line in edited_text.splitlines(keepends=True) if not line.startswith("#"))
            edited = yaml.safe_load(body) if body.strip() else None
            if not edited or edited == original:
                click.echo("Edit cancelled, no changes made.", err=True)
                continue
            rules = merge_rules(res.kind)
            patch = three_way_patch(original, edited, original, rules)
            try:
                await session.api.patch(path, patch, "strategic" if rules else "merge", "kubectl-edit")
            except ApiError as exc:
                _keep_copy(
                    edited_text, f'{res.qualified} "{name}" is invalid' if exc.reason == "Invalid" else error_text(exc)
                )
                failed = True
                continue
            click.echo(f"{res.kind_ref}/{name} edited")
        if failed:
            click.echo("error: Edit cancelled, no valid changes were saved.", err=True)
        return 1 if failed else 0

    run(work)


def _keep_copy(text: str, problem: str) -> None:
    """A refused edit is not lost: kubectl stores it and says where."""
    with tempfile.NamedTemporaryFile("w", prefix="kubectl-edit-", suffix=".yaml", delete=False) as f:
        f.write(text)
    click.echo(f'error: {problem}\nA copy of your changes has been stored to "{f.name}"', err=True)
