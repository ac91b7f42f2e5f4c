"""`python -m makegood ...` for tests, in this process unless a test needs a process.

A new interpreter that imports makegood costs a second or two before the command does
anything, and most CLI tests are about what a command prints and its exit status, not
about the process. ``run`` takes what ``subprocess.run`` would (the arguments after
``python -m makegood``, the whole environment, the working directory) and calls the
command's own entry point, ``makegood.entrypoints.cli.main``, with exactly that
environment, working directory and ``sys.argv``, its standard output and error read
from pipes of their own. What comes back is a ``subprocess.CompletedProcess``: the
exit status (1 and the traceback on stderr for an exception nothing caught, as the
interpreter would), stdout and stderr as text.

Tests about processes (signals, kills, several at once, servers) start real ones.
``MAKEGOOD_TEST_CLI=subprocess`` runs every call here as a real process too.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, event

IN_PROCESS = os.environ.get("MAKEGOOD_TEST_CLI", "in-process") != "subprocess"
# One command at a time: the environment, the working directory and sys.std* are the
# process's own.
_ONE_AT_A_TIME = threading.Lock()


def run(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float = 120,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``makegood ARGS`` with this environment (default: ours) in this directory;
    ``check`` raises ``CalledProcessError`` for a non-zero exit status."""
    command = [sys.executable, "-m", "makegood", *args]
    if not IN_PROCESS:
        return subprocess.run(
            command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=check
        )
    out, err = _Pipe(), _Pipe()
    with _ONE_AT_A_TIME, _as_a_process(env, cwd, out, err):
        code = _main(list(args))
    stdout, stderr = (b.getvalue().decode("utf-8", "replace") for b in (out, err))
    done = subprocess.CompletedProcess(command, code, stdout, stderr)
    if check:
        done.check_returncode()
    return done


def _main(args: list[str]) -> int:
    from makegood.entrypoints.cli import main

    sys.argv = [str(Path(sys.executable).parent / "makegood"), *args]
    try:
        main()
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        sys.stderr.write(f"{exc.code}\n")
        return 1
    except KeyboardInterrupt:
        raise
    except BaseException:  # the interpreter would print it and exit 1
        traceback.print_exc()
        return 1
    return 0


@contextmanager
def _as_a_process(
    env: Mapping[str, str] | None, cwd: Path | str | None, out: _Pipe, err: _Pipe
) -> Iterator[None]:
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_argv = sys.argv
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    engines: dict[int, Engine] = {}

    def connected(connection: Connection) -> None:
        engines.setdefault(id(connection.engine), connection.engine)

    event.listen(Engine, "engine_connect", connected)
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        sys.stdin = _text(_Pipe())  # nothing to read, like </dev/null
        sys.stdout, sys.stderr = _text(out), _text(err)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        if env is not None:
            os.environ.clear()
            os.environ.update(saved_env)
        event.remove(Engine, "engine_connect", connected)
        # A process's connections end with it: close what the command left open.
        for engine in engines.values():
            engine.dispose()


class _Pipe(io.BytesIO):
    """What a command writes to; still readable after its text wrapper is gone."""

    def close(self) -> None:
        pass


def _text(pipe: _Pipe) -> io.TextIOWrapper:
    return io.TextIOWrapper(pipe, encoding="utf-8", write_through=True)
