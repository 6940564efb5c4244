"""pykube works as an installed package, away from its repository: a wheel built from the sources installs
into a fresh virtual environment, whose ``minikube_py.testing`` and command line then work from a directory
outside the checkout (nothing reaches back for ``scripts/`` or other repository files).

The fresh environment borrows the dependencies of the one running the tests (a ``.pth`` file naming its
site-packages: a plain directory on the path, so that environment's editable pykube stays out) rather than
downloading them; pykube itself comes only from the wheel, which the test checks.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


def run(*command: str | Path, cwd: Path, timeout: float = 600) -> str:
    """Run ``command`` in ``cwd``, failing with its output when it fails; returns its standard output."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    assert not tmp_path.is_relative_to(REPO)
    # build from a copy, so that the build leaves nothing (build/, *.egg-info) in the checkout
    source = tmp_path / "minikube-py"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "minikube_py", source / "minikube_py", ignore=shutil.ignore_patterns("__pycache__"))
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", source, cwd=tmp_path)
    wheels = list((tmp_path / "dist").glob("minikube_py-*.whl"))
    assert len(wheels) == 1, wheels

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    purelib = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path).strip())
    (purelib / "borrowed-dependencies.pth").write_text("".join(f"{path}\n" for path in site.getsitepackages()))
    run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "--no-index",
        "-q",
        wheels[0],
        cwd=tmp_path,
    )

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    imported = run(
        python, "-c", "import minikube_py.testing, minikube_py.cli.main; print(minikube_py.__file__)", cwd=elsewhere
    )
    assert Path(imported.strip()).is_relative_to(purelib), imported
    # the dashboard's files are package data, served from the installed package
    assert (purelib / "minikube_py" / "api" / "dashboard" / "static").is_dir()
    usage = run(venv / "bin" / "pykube", "--help", cwd=elsewhere)
    assert "server" in usage and "agent" in usage, usage
