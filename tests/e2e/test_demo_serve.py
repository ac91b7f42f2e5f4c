"""`makegood demo --serve`: after the run the console stays up with a login for it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from makegood.demo.claims import form_of
from tests.support.server import free_port


def test_serve_keeps_the_console_open_with_the_login_it_prints(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKEGOOD_")}
    args = ["--customers", "300", "--dir", str(tmp_path / "demo"), "--serve", "--port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "makegood", "--json", "demo", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        run = json.loads(proc.stdout.readline())
        login = run["console"]
        assert login["url"] == f"http://127.0.0.1:{port}/console"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as browser:
            deadline = time.monotonic() + 30
            while True:
                try:
                    page = browser.get("/console/login")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the console did not come up"
                    time.sleep(0.1)
            form = form_of(page.text)
            assert form is not None
            fields = form.fields | {"username": login["username"], "password": login["password"]}
            assert browser.post(form.action, data=fields).status_code == 303
            incident = browser.get(f"/console/incidents/{run['incidents'][1]['id']}")
            assert incident.status_code == 200
            assert run["incidents"][1]["title"] in incident.text
            assert browser.get("/console/mailbox").status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    assert code == 0, proc.stderr.read() if proc.stderr else ""
