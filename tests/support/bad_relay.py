"""An SMTP relay that misbehaves on purpose, on 127.0.0.1 in a thread of its own.

It speaks just enough SMTP (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) to take a
message, then does what the scenario says for the first ``times`` messages and behaves
afterwards: answer a code instead of 250, stall (never answer the end of DATA), drop
the connection after the data, accept and then close, or refuse STARTTLS. What it
finally accepted is kept by Message-ID, so duplicates can be counted.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import Counter
from dataclasses import dataclass, field

MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>]+>)", re.IGNORECASE | re.MULTILINE)


@dataclass
class Behaviour:
    """``action``: "code" (answer ``code`` to the data), "stall", "drop",
    "accept-then-close", or "ok". Applied to the first ``times`` messages."""

    action: str = "ok"
    code: str = "250 2.0.0 ok"
    times: int = 0


@dataclass
class BadRelay:
    behaviour: Behaviour
    port: int = 0
    accepted: Counter[str] = field(default_factory=Counter)
    seen: int = 0  # messages whose data arrived, whatever became of them
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> BadRelay:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            server = self._loop.run_until_complete(
                asyncio.start_server(self._session, "127.0.0.1", 0)
            )
            self.port = server.sockets[0].getsockname()[1]
            self._server = server
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(5)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            self._server.close()
            sessions = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in sessions:  # stalled sessions would sleep for an hour
                task.cancel()
            await asyncio.gather(*sessions, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def say(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        try:
            await say("220 bad-relay.example ESMTP")
            while line := await reader.readline():
                verb = line.strip().split(b" ", 1)[0].upper()
                if verb in (b"EHLO", b"HELO"):
                    await say("250-bad-relay.example\r\n250-8BITMIME\r\n250 SMTPUTF8")
                elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                    await say("250 2.0.0 ok")
                elif verb == b"STARTTLS":
                    await say("454 4.7.0 TLS not available")
                elif verb == b"QUIT":
                    await say("221 2.0.0 bye")
                    break
                elif verb == b"DATA":
                    await say("354 go ahead")
                    if not await self._data(reader, writer, say):
                        break
                else:
                    await say("502 5.5.2 not implemented")
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _data(self, reader, writer, say) -> bool:  # type: ignore[no-untyped-def]
        body = await reader.readuntil(b"\r\n.\r\n")
        found = MESSAGE_ID.search(body)
        message_id = found.group(1).decode() if found else ""
        with self.lock:
            self.seen += 1
            misbehave = self.seen <= self.behaviour.times
        action = self.behaviour.action if misbehave else "ok"
        if action == "stall":
            await asyncio.sleep(3600)
        if action == "drop":
            return False
        if action == "code":
            await say(self.behaviour.code)
            return True
        with self.lock:
            self.accepted[message_id] += 1
        await say("250 2.0.0 queued")
        return action != "accept-then-close"
