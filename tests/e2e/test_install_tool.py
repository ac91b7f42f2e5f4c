"""`make install-tool`, the README's way to get a `makegood` command for any directory."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_installed_tool_runs_in_any_directory_against_its_own_database(tmp_path):
    tools, bin_dir, work = tmp_path / "tools", tmp_path / "bin", tmp_path / "somewhere"
    work.mkdir()
    env = {
        **os.environ,
        "UV_TOOL_DIR": str(tools),
        "UV_TOOL_BIN_DIR": str(bin_dir),
        # Nothing of the checkout's environment may leak into the tool's.
        "PATH": os.pathsep.join(
            p for p in os.environ["PATH"].split(os.pathsep) if ".venv" not in p
        ),
    }
    env.pop("VIRTUAL_ENV", None)
    installed = subprocess.run(
        ["make", "-C", str(ROOT), "install-tool"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    makegood = bin_dir / "makegood"
    assert makegood.exists()
    # The tool runs from its own environment, not the checkout's.
    shebang = Path(os.path.realpath(makegood)).read_text(errors="replace").splitlines()[0]
    assert str(tools) in shebang or str(tools) in os.path.realpath(makegood)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(makegood), *args], cwd=work, env=env, capture_output=True, text=True, timeout=120
        )

    init = run("--json", "init")
    assert init.returncode == 0, init.stderr
    assert (work / "makegood.db").exists()
    assert json.loads(init.stdout)["schema"]
    listed = run("--json", "incidents", "list")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == {"incidents": []}
