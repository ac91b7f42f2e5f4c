"""The CLI contract, driven as a user would: `makegood --json ...` with its environment
and working directory (in this process, see tests/support/cli.py, except where the
test is about processes: the mailbox and the worker until stopped)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import cli
from tests.support import truth as gt


def makegood(
    *args: str, db: str, cwd: Path, env: dict[str, str] | None = None, check: bool = True
) -> tuple[int, dict]:
    full_env = {**os.environ, "MAKEGOOD_DATABASE_URL": db, **(env or {})}
    proc = cli.run(["--json", *args], cwd=cwd, env=full_env, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"makegood {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, f"--json must print one object, got: {proc.stdout!r} {proc.stderr!r}"
    return proc.returncode, json.loads(lines[0])


@pytest.fixture
def world(database_url, tmp_path):
    t = gt.build()
    files = gt.write(t, tmp_path / "data", "csv")
    return t, files, database_url, tmp_path


def test_cli_contract_from_init_to_impact(world):
    t, files, db, cwd = world
    _, init = makegood("init", db=db, cwd=cwd)
    assert init["schema"]
    _, again = makegood("init", db=db, cwd=cwd)
    assert again["schema_before"] == again["schema"] == init["schema"]

    _, imported = makegood("customers", "import", str(files["customers"]), db=db, cwd=cwd)
    assert imported == {"imported": len(t.customers), "updated": 0}
    _, reimported = makegood("customers", "import", str(files["customers"]), db=db, cwd=cwd)
    assert reimported == {"imported": 0, "updated": len(t.customers)}

    _, added = makegood(
        "sources", "add", "usage_events", str(files["usage_events"]), db=db, cwd=cwd
    )
    assert added["rows"] == len(t.events)
    makegood("sources", "add", "shipments", str(files["shipments"]), db=db, cwd=cwd)

    _, declared = makegood(
        "incidents",
        "declare",
        "--service",
        "streaming",
        "--start",
        gt.STREAM_START.isoformat(),
        "--end",
        "2026-03-09T22:30:00-04:00",
        "--title",
        "Playback failing",
        "--summary",
        "Streaming failed on Monday evening.",
        "--cause",
        "third_party",
        db=db,
        cwd=cwd,
    )
    incident = declared["id"]
    assert declared["end"] == gt.STREAM_END.isoformat()

    # An engine that is not installed is named, with the ones that are.
    now = {"MAKEGOOD_NOW": gt.NOW.isoformat()}
    code, err = makegood(
        "impact", "run", str(incident), "--engine", "duckbd", db=db, cwd=cwd, env=now, check=False
    )
    assert code == 1
    assert err["error"]["message"].startswith(
        "--engine: no makegood.engines adapter is called 'duckbd' (did you mean 'duckdb'?)"
    )
    # MAKEGOOD_NOW sets the clock for the whole command.
    _, ran = makegood("impact", "run", str(incident), "--engine", "duckdb", db=db, cwd=cwd, env=now)
    assert (ran["confirmed"], ran["possible"]) == (
        len(t.streaming_confirmed),
        len(t.streaming_possible),
    )

    _, shown = makegood("incidents", "show", str(incident), db=db, cwd=cwd)
    assert shown["impacts"] == {"confirmed": ran["confirmed"], "possible": ran["possible"]}
    _, listed = makegood("incidents", "list", db=db, cwd=cwd)
    assert [i["id"] for i in listed["incidents"]] == [incident]


def test_cli_errors_are_one_json_object_and_exit_1(world):
    _, files, db, cwd = world
    code, err = makegood(
        "customers", "import", str(files["customers"]), db=db, cwd=cwd, check=False
    )
    assert code == 1 and "makegood init" in err["error"]["message"]
    makegood("init", db=db, cwd=cwd)
    code, err = makegood(
        "incidents",
        "declare",
        "--service",
        "shipping",
        "--start",
        "2026-03-09T05:00:00",
        "--title",
        "x",
        db=db,
        cwd=cwd,
        check=False,
    )
    assert code == 1 and "--start" in err["error"]["message"]
    assert "no UTC offset" in err["error"]["message"]
    code, err = makegood(
        "--now", "2026-03-12T12:00:00", "incidents", "list", db=db, cwd=cwd, check=False
    )
    assert code == 1 and "--now" in err["error"]["message"]
    bad = cwd / "bad.csv"
    bad.write_text(files["customers"].read_text().replace("@example.com", "", 2))
    code, err = makegood("customers", "import", str(bad), db=db, cwd=cwd, check=False)
    assert code == 1 and err["error"]["kind"] == "invalid_input"
    assert len(err["error"]["problems"]) == 2
    assert all("column email" in p for p in err["error"]["problems"])
    _, listed = makegood("incidents", "list", db=db, cwd=cwd)
    assert listed == {"incidents": []}


def test_global_now_option_replays_history(world):
    _, files, db, cwd = world
    makegood("init", db=db, cwd=cwd)
    makegood("customers", "import", str(files["customers"]), db=db, cwd=cwd)
    makegood("sources", "add", "shipments", str(files["shipments"]), db=db, cwd=cwd)
    _, declared = makegood(
        "incidents",
        "declare",
        "--service",
        "shipping",
        "--start",
        gt.SHIP_START.isoformat(),
        "--end",
        gt.SHIP_END.isoformat(),
        "--title",
        "Warehouse down",
        db=db,
        cwd=cwd,
    )
    code, err = makegood(
        "--now",
        "2026-03-09T12:00:00Z",
        "impact",
        "run",
        str(declared["id"]),
        db=db,
        cwd=cwd,
        check=False,
    )
    assert code == 1 and "after now" in err["error"]["message"]
    _, ran = makegood(
        "--now", gt.NOW.isoformat(), "impact", "run", str(declared["id"]), db=db, cwd=cwd
    )
    assert ran["confirmed"] > 0 and ran["possible"] == 0


@pytest.mark.usefixtures("demo_port")  # no --port: 8000, unless another demo has it
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_demo_runs_both_seed_cases_on_the_embedded_default(tmp_path, database_url):
    _, demo = makegood(
        "demo",
        "--customers",
        "2000",
        "--dir",
        str(tmp_path / "demo"),
        db=database_url,
        cwd=tmp_path,
    )
    shipping, streaming = demo["incidents"]
    assert shipping["service"] == "shipping" and shipping["confirmed"] > 0
    assert streaming["service"] == "streaming"
    assert streaming["confirmed"] > 0 and streaming["possible"] > 0
    assert demo["database"].startswith("sqlite:///")
    # The seed policy: late shipments credited automatically, streaming as claim links.
    assert shipping["granted"] == shipping["offers"] > 0 and shipping["offered"] == 0
    assert streaming["offered"] == streaming["offers"] > 0 and streaming["granted"] == 0
    assert 0 < streaming["claimed"] < streaming["offered"]
    assert shipping["excluded"] > 0  # cancelled customers
    assert demo["billing"]["exported"] == shipping["granted"] + streaming["claimed"]
    # Customers claim over HTTP, some too late; two months on they are imported again.
    assert demo["claims"]["claimed"] == streaming["claimed"]
    assert demo["claims"]["late_refused"] == streaming["late_refused"]
    assert demo["later"]["updated"] == demo["customers"] == 2000
    assert all(Path(i["report"]).is_file() for i in demo["incidents"])


def test_help_explains_every_command(tmp_path):
    out = cli.run(["--help"], cwd=tmp_path, check=True).stdout
    for command in ("init", "customers", "sources", "incidents", "impact", "demo"):
        assert command in out
    impact_help = cli.run(["impact", "run", "--help"], cwd=tmp_path, check=True).stdout
    assert "habitual_usage" in impact_help and "--rule" in impact_help


def test_cli_campaign_from_plan_to_billing_export(world):
    from tests.support.world import SECRET, SEED_POLICY

    t, files, db, cwd = world
    env = {"MAKEGOOD_NOW": gt.NOW.isoformat(), "MAKEGOOD_SECRET_KEY": SECRET}
    policy = cwd / "netflix-2008.toml"
    policy.write_text(SEED_POLICY)
    makegood("init", db=db, cwd=cwd)
    makegood("customers", "import", str(files["customers"]), db=db, cwd=cwd)
    makegood("sources", "add", "shipments", str(files["shipments"]), db=db, cwd=cwd)
    _, declared = makegood(
        "incidents",
        "declare",
        "--service",
        "shipping",
        "--start",
        gt.SHIP_START.isoformat(),
        "--end",
        gt.SHIP_END.isoformat(),
        "--title",
        "Warehouse down",
        db=db,
        cwd=cwd,
        env=env,
    )
    makegood("impact", "run", str(declared["id"]), db=db, cwd=cwd, env=env)

    _, planned = makegood(
        "campaigns", "plan", str(declared["id"]), "--policy", str(policy), db=db, cwd=cwd, env=env
    )
    cancelled = [c for c in t.shipping_confirmed if c.startswith("cancelled")]
    expected = len(t.shipping_confirmed) - len(cancelled)
    assert {k: planned[k] for k in ("offers", "automatic", "claim", "excluded", "held_out")} == {
        "offers": expected,
        "automatic": expected,
        "claim": 0,
        "excluded": len(cancelled),
        "held_out": 0,
    }
    assert planned["totals"] == {"USD": f"{0.77 * expected:.2f}"}

    code, refused = makegood(
        "campaigns", "execute", str(planned["id"]), db=db, cwd=cwd, env=env, check=False
    )
    assert code == 1 and "needs approval" in refused["error"]["message"]
    _, approved = makegood(
        "campaigns", "approve", str(planned["id"]), "--by", "lead", db=db, cwd=cwd, env=env
    )
    assert approved["status"] == "approved"
    _, executed = makegood("campaigns", "execute", str(planned["id"]), db=db, cwd=cwd, env=env)
    assert executed == {"granted": expected, "offered": 0, "messages": expected}
    _, again = makegood("campaigns", "execute", str(planned["id"]), db=db, cwd=cwd, env=env)
    assert again == {"granted": 0, "offered": 0, "messages": 0}

    out = cwd / "billing.csv"
    _, exported = makegood("billing", "export", "--out", str(out), db=db, cwd=cwd, env=env)
    assert exported["exported"] == expected
    assert out.read_text().splitlines()[0] == (
        "credit_id,customer_id,amount,currency,statement_date,incident_id,description"
    )
    _, nothing = makegood(
        "billing", "export", "--out", str(cwd / "b2.csv"), db=db, cwd=cwd, env=env
    )
    assert nothing["exported"] == 0


def test_cli_preview_send_and_a_broken_template_that_fails_the_plan(world):
    from makegood.adapters import mailbox
    from tests.support.world import SECRET, SEED_POLICY

    t, files, db, cwd = world
    sink_dir = cwd / "mailbox"
    controller = mailbox.start(sink_dir)
    env = {
        "MAKEGOOD_NOW": gt.NOW.isoformat(),
        "MAKEGOOD_SECRET_KEY": SECRET,
        "MAKEGOOD_SMTP_URL": f"smtp://127.0.0.1:{controller.port}",
    }
    try:
        policy = cwd / "netflix-2008.toml"
        policy.write_text(SEED_POLICY)
        makegood("init", db=db, cwd=cwd)
        makegood("customers", "import", str(files["customers"]), db=db, cwd=cwd)
        makegood("sources", "add", "usage_events", str(files["usage_events"]), db=db, cwd=cwd)
        _, declared = makegood(
            "incidents",
            "declare",
            "--service",
            "streaming",
            "--start",
            gt.STREAM_START.isoformat(),
            "--end",
            gt.STREAM_END.isoformat(),
            "--title",
            "Streaming down",
            "--summary",
            "Videos would not start for many members.",
            "--summary-for",
            "de=Bei vielen Mitgliedern starteten keine Videos.",
            db=db,
            cwd=cwd,
            env=env,
        )
        incident = str(declared["id"])
        assert declared["summaries"] == {"de": "Bei vielen Mitgliedern starteten keine Videos."}
        makegood("impact", "run", incident, db=db, cwd=cwd, env=env)

        # An operator's template with a typo: the plan fails and names the place.
        broken = cwd / "templates" / "en-US"
        broken.mkdir(parents=True)
        (broken / "claim_offer.txt").write_text("Hi {{ customer.frist_name }}\n")
        code, error = makegood(
            "campaigns",
            "plan",
            incident,
            "--policy",
            str(policy),
            db=db,
            cwd=cwd,
            env={**env, "MAKEGOOD_TEMPLATES_DIR": str(cwd / "templates")},
            check=False,
        )
        assert code == 1
        assert "en-US/claim_offer.txt" in error["error"]["message"]
        assert "frist_name" in error["error"]["message"]

        _, planned = makegood(
            "campaigns", "plan", incident, "--policy", str(policy), db=db, cwd=cwd, env=env
        )
        campaign = str(planned["id"])
        customer = sorted(t.streaming_confirmed)[0]
        _, shown = makegood(
            "campaigns", "preview", campaign, "--customer", customer, db=db, cwd=cwd, env=env
        )
        assert shown["customer_id"] == customer and shown["subject"] == "We're sorry"
        assert "Videos would not start" in shown["text"]
        assert "/claim/PREVIEW-ONLY-NOT-A-WORKING-LINK" in shown["text"]
        assert shown["headers"]["Reply-To"] and shown["headers"]["Message-ID"]
        eml = cwd / "preview.eml"
        makegood("campaigns", "preview", campaign, "--out", str(eml), db=db, cwd=cwd, env=env)
        assert b"Content-Type: multipart/alternative" in eml.read_bytes()

        makegood("campaigns", "approve", campaign, "--by", "lead", db=db, cwd=cwd, env=env)
        _, executed = makegood("campaigns", "execute", campaign, db=db, cwd=cwd, env=env)
        _, sent = makegood("send", "--until-empty", db=db, cwd=cwd, env=env)
        _, again = makegood("send", db=db, cwd=cwd, env=env)
    finally:
        controller.stop()
    assert sent["sent"] == executed["messages"] == planned["offers"] > 0
    assert again["sent"] == 0
    assert len(mailbox.read_index(sink_dir)) == executed["messages"]


def test_mailbox_and_worker_run_until_stopped(tmp_path, database_url):
    import asyncio
    import signal
    import time

    import aiosmtplib

    from makegood.adapters.mailbox import free_port, read_index

    port = free_port()
    sink_dir = tmp_path / "mail"
    env = {**os.environ, "MAKEGOOD_DATABASE_URL": database_url}
    box = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "makegood",
            "--json",
            "mailbox",
            "--port",
            str(port),
            "--dir",
            str(sink_dir),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "listening on" in box.stderr.readline()
        asyncio.run(
            aiosmtplib.send(
                "From: a@example.com\r\nTo: b@example.com\r\nSubject: hello\r\n"
                "Message-ID: <x@example.com>\r\n\r\nbody\r\n",
                sender="a@example.com",
                recipients=["b@example.com"],
                hostname="127.0.0.1",
                port=port,
            )
        )
    finally:
        box.send_signal(signal.SIGTERM)
        out, err = box.communicate(timeout=30)
    assert box.returncode == 0, err
    assert json.loads(out) == {"received": 1, "dir": str(sink_dir)}
    [item] = read_index(sink_dir)
    assert item["subject"] == "hello" and item["rcpt_tos"] == ["b@example.com"]
    assert (sink_dir / item["file"]).read_bytes().endswith(b"body\r\n")

    # The worker waits for work until SIGTERM, then reports what it did.
    makegood("init", db=database_url, cwd=tmp_path)
    worker = subprocess.Popen(
        [sys.executable, "-m", "makegood", "--json", "worker"],
        cwd=tmp_path,
        env={**env, "MAKEGOOD_SMTP_URL": f"smtp://127.0.0.1:{port}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # No secret key here: the worker says what its emails will lack.
    assert "MAKEGOOD_SECRET_KEY is not set" in worker.stderr.readline()
    assert "makegood worker: sending to" in worker.stderr.readline()  # signals handled now
    time.sleep(1)
    assert worker.poll() is None  # still running, nothing to send
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert json.loads(out)["sent"] == 0
