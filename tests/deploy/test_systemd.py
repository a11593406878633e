"""deploy/systemd/watchkeeper@.service: each instance runs a real CLI service, its
environment is what the config loader reads, and systemd's own tools accept the unit
(``verify``: no unknown keys) and rate its sandbox (``security --offline``)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.deploy_support import ROOT, check_command, deployed_services, load_with_env

UNIT = ROOT / "deploy" / "systemd" / "watchkeeper@.service"
ENV_EXAMPLE = ROOT / "deploy" / "systemd" / "watchkeeper.env.example"
INSTALLED = "/opt/watchkeeper/bin/watchkeeper"
MAX_EXPOSURE = 2.0
"""systemd's scale runs 0 (locked down) to 10; under 2 is its "OK"."""


def _settings(text: str) -> dict[str, list[str]]:
    """``Key=value`` lines of the unit (repeatable keys keep every value)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:  # part of the machine image: missing means a broken machine, no skip
        pytest.fail("systemd-analyze is not on PATH: the unit cannot be checked")
    return found


def _instance(tmp_path: Path, service: str) -> Path:
    """The unit as systemd would load it for ``service``, run from this environment's CLI."""
    here = shutil.which("watchkeeper", path=str(Path(sys.executable).parent))
    assert here, "the watchkeeper console script is not installed beside this Python"
    path = tmp_path / f"watchkeeper@{service}.service"
    path.write_text(UNIT.read_text().replace(INSTALLED, here))
    return path


def test_each_instance_runs_a_real_service() -> None:
    settings = _settings(UNIT.read_text())
    (exec_start,) = settings["ExecStart"]
    assert exec_start.split()[0] == INSTALLED
    for service in deployed_services():
        assert check_command(exec_start.replace("%i", service).split()) == service


def test_environment_is_what_the_loader_reads() -> None:
    settings = _settings(UNIT.read_text())
    env = dict(v.split("=", 1) for v in settings["Environment"])
    env |= {k: v[-1] for k, v in _settings(ENV_EXAMPLE.read_text()).items()}
    config = load_with_env((ROOT / "examples" / "watchkeeper.yml").read_text(), env)
    assert config.redis.url is not None and config.redis.url.startswith("redis+sentinel://")
    assert settings["EnvironmentFile"] == ["/etc/watchkeeper/watchkeeper.env"]
    assert settings["WorkingDirectory"] == ["/var/lib/watchkeeper"]
    assert settings["StateDirectory"] == ["watchkeeper"]


def test_hardened_and_not_root() -> None:
    settings = _settings(UNIT.read_text())
    assert settings["User"] not in (["root"], ["0"])
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict",
                       "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
                       "CapabilityBoundingSet": ""}.items():  # fmt: skip
        assert settings.get(key) == [value], f"{key}={value} is missing"


@pytest.mark.parametrize("service", sorted(deployed_services()))
def test_systemd_accepts_the_unit_and_rates_it_ok(tmp_path: Path, service: str) -> None:
    analyze, unit = _systemd_analyze(), _instance(tmp_path, service)
    verify = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert (verify.returncode, verify.stderr) == (0, ""), verify.stderr
    security = subprocess.run(
        [analyze, "security", "--offline=yes", str(unit)], capture_output=True, text=True
    )
    assert "Unknown" not in security.stderr, security.stderr
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout)
    assert found, security.stdout + security.stderr
    assert float(found[1]) <= MAX_EXPOSURE
