"""The Dockerfile: non-root with a writable data dir, real commands, and a wheel that,
built from exactly what the Dockerfile copies, holds every module and package-data file
(the Lua scripts above all: without them no service can fire or publish)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.deploy.deploy_support import ROOT, check_command, read_dockerfile

UID = "10001"


def test_runs_as_a_fixed_non_root_user_with_a_writable_data_dir() -> None:
    dockerfile = read_dockerfile()
    assert dockerfile.user == f"{UID}:{UID}"
    assert f"--uid {UID}" in dockerfile.text
    data = f"{dockerfile.workdir}/data"
    assert f"install -d -o {UID} -g {UID}" in dockerfile.text
    assert data in dockerfile.text, "the data dir must be created for the user"


def test_default_command_and_health_check_exist_in_the_cli() -> None:
    dockerfile = read_dockerfile()
    assert check_command(dockerfile.cmd) == "up"
    assert check_command(dockerfile.healthcheck) == "healthcheck"


def _repo_files() -> set[str]:
    tracked = subprocess.run(
        ["git", "ls-files", "shared", "services"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return {f for f in tracked if (ROOT / f).exists()}


def test_the_wheel_from_the_docker_context_has_every_module_and_lua_script(
    tmp_path: Path,
) -> None:
    context, out = tmp_path / "context", tmp_path / "wheels"
    context.mkdir()
    for sources in read_dockerfile().copies:
        for source in sources:
            src = ROOT / source
            copy = shutil.copytree if src.is_dir() else shutil.copy2
            copy(src, context / source)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(out)],
        cwd=context, check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = out.glob("watchkeeper-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n) for n in names if n.endswith("entry_points.txt"))
    lua = {f for f in _repo_files() if f.endswith(".lua")}
    assert lua, "the Lua scripts moved: update this test"
    assert lua <= names
    missing = _repo_files() - names
    assert not missing, f"the wheel lacks {sorted(missing)} (a package without __init__.py?)"
    assert b"watchkeeper = services.cli.main:main" in entry_points
