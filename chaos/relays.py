"""Bad relays: every way an SMTP relay can misbehave ends in makegood's documented
outcome — retried and then sent, or failed and suppressed, or stopped with a clear
error — never a crashed sender or a message left in limbo.

    python chaos/relays.py            # every scenario; figures to chaos/results/relays.json
    python chaos/relays.py --quick    # the same scenarios (they are short already)

Each scenario: a fresh SQLite database with the two seed incidents' campaigns executed
(tests/support/world.py), a relay that misbehaves for the first few messages
(tests/support/bad_relay.py) or the built-in mailbox on a full disk, and makegood's real
sender until nothing is left to do. Counted afterwards from the database and at the
relay: sent, failed, suppressed, left pending or leased (limbo), and messages the relay
accepted twice (by Message-ID).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from pydantic import SecretStr  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from tests.support.bad_relay import BadRelay, Behaviour  # noqa: E402
from tests.support.delivery import SENT_AT, executed, settings  # noqa: E402
from tests.support.world import build_world  # noqa: E402

from makegood.adapters import mailbox  # noqa: E402
from makegood.core.clock import FixedClock  # noqa: E402
from makegood.db import migrate  # noqa: E402
from makegood.db.engine import make_engine  # noqa: E402
from makegood.db.uow import UnitOfWork  # noqa: E402
from makegood.entrypoints.wiring import build_root  # noqa: E402
from makegood.messaging.models import Message, Suppression  # noqa: E402
from makegood.messaging.sender import for_root  # noqa: E402

RESULTS = ROOT / "chaos" / "results"


@dataclass(frozen=True)
class Scenario:
    name: str
    behaviour: Behaviour | None  # None: the built-in mailbox on a full disk
    promise: str  # what must hold
    tls: bool = False


RETRIED, SPENT = "retried, all sent", "3 failed and suppressed"
SCENARIOS = (
    Scenario("421 then ok", Behaviour("code", "421 4.3.2 Service shutting down", 5), RETRIED),
    Scenario("451 then ok", Behaviour("code", "451 4.3.0 Local error", 5), RETRIED),
    Scenario("452 then ok", Behaviour("code", "452 4.3.1 Insufficient storage", 5), RETRIED),
    Scenario("550 for three", Behaviour("code", "550 5.1.1 No such user", 3), SPENT),
    Scenario("552 for three", Behaviour("code", "552 5.2.2 Mailbox full", 3), SPENT),
    Scenario("stalls in DATA", Behaviour("stall", times=2), "timed out, " + RETRIED),
    Scenario("drops after DATA", Behaviour("drop", times=3), RETRIED),
    Scenario("accepts, then closes", Behaviour("accept-then-close", times=3), "all sent"),
    Scenario("refuses STARTTLS", Behaviour("ok"), "sender stops with a clear error", tls=True),
    Scenario("mailbox disk full", None, "452, retried, all sent; nobody suppressed"),
)


class FullDisk(mailbox.MailboxHandler):
    """The built-in mailbox whose disk is full for its first ``times`` messages."""

    def __init__(self, directory: Path, times: int) -> None:
        super().__init__(directory)
        self.left = times

    def store(self, envelope: Any) -> Any:
        if self.left > 0:
            self.left -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().store(envelope)


def run(scenario: Scenario, work: Path) -> dict[str, Any]:
    url = f"sqlite:///{work / 'makegood.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    world = build_world(engine, work / "data")
    executed(engine, world.shipping)
    executed(engine, world.streaming)
    relay, controller = None, None
    if scenario.behaviour is None:
        controller = mailbox.start(work / "mailbox", handler=FullDisk(work / "mailbox", 5))
        port = controller.port
    else:
        relay = BadRelay(scenario.behaviour).start()
        port = relay.port
    config = settings(url, port, timeout_seconds=1, max_attempts=4, lease_seconds=30)
    if scenario.tls:
        tls = SecretStr(f"smtp+starttls://127.0.0.1:{port}")
        config = config.model_copy(update={"smtp_url": tls})
    started, error = time.perf_counter(), ""
    try:
        sender = for_root(build_root(config, FixedClock(SENT_AT), engine))
        asyncio.run(sender.run("until_empty"))
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        if relay is not None:
            relay.stop()
        if controller is not None:
            controller.stop()
    seconds = time.perf_counter() - started
    with UnitOfWork(engine) as uow:
        states = Counter(
            {
                s: n
                for s, n in uow.session.execute(
                    select(Message.status, func.count()).group_by(Message.status)
                )
            }
        )
        suppressed = uow.session.scalar(select(func.count()).select_from(Suppression)) or 0
    if relay is not None:
        twice = sum(n - 1 for n in relay.accepted.values() if n > 1)
    else:
        twice = sum(
            n - 1
            for n in Counter(i["message_id"] for i in mailbox.read_index(work / "mailbox")).values()
            if n > 1
        )
    engine.dispose()
    return {
        "scenario": scenario.name,
        "promise": scenario.promise,
        "messages": sum(states.values()),
        "sent": states["sent"],
        "failed": states["failed"],
        "suppressed_addresses": int(suppressed),
        "limbo": states["sending"] + states["queued"] + states["retrying"],
        "leased": states["sending"],
        "accepted_twice": twice,
        "sender_error": error,
        "seconds": round(seconds, 2),
    }


def held(row: dict[str, Any]) -> bool:
    """Whether the scenario ended as its promise says."""
    if row["scenario"] == "refuses STARTTLS":  # paused: every message waits, none spent
        return "TLS" in row["sender_error"] and row["failed"] == 0 and row["sent"] == 0
    if row["sender_error"] or row["limbo"] or row["accepted_twice"]:
        return False
    if row["scenario"].startswith(("550", "552")):
        return row["failed"] == 3 and row["suppressed_addresses"] == 3
    return row["sent"] == row["messages"] and row["suppressed_addresses"] == 0


def line(row: dict[str, Any]) -> str:
    verdict = "held" if row["held"] else "BROKEN"
    return (
        f"{row['scenario']:<22} {verdict:<7} sent {row['sent']:>3}/{row['messages']:<3} "
        f"failed {row['failed']:>2} suppressed {row['suppressed_addresses']:>2} "
        f"pending {row['limbo']} (leased {row['leased']}) twice {row['accepted_twice']} "
        f"{row['sender_error'][:70]}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the CI version (the same here)")
    parser.add_argument("--out", type=Path, default=RESULTS / "relays.json")
    args = parser.parse_args(argv)
    rows = []
    for scenario in SCENARIOS:
        with tempfile.TemporaryDirectory(prefix="makegood-relay-") as work:
            row = run(scenario, Path(work))
        row["held"] = held(row)
        rows.append(row)
        print(line(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"scenarios": rows}, indent=2) + "\n")
    return 0 if all(r["held"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
