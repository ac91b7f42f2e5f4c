"""The unit of work owns the transaction. Services take a Session and never commit;
the caller decides when a whole use case is done."""

from __future__ import annotations

from functools import lru_cache
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from makegood.db.lengths import guard_lengths


@lru_cache(maxsize=64)
def _factory(engine: Engine) -> sessionmaker[Session]:
    # One per engine: building a sessionmaker makes a Session subclass, which costs
    # more than a short transaction (senders open one for every few messages).
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    guard_lengths(factory)  # too long a text is refused alike on SQLite and PostgreSQL
    return factory


class UnitOfWork:
    """``with UnitOfWork(engine) as uow: ...; uow.commit()`` — anything not committed
    when the block ends is rolled back."""

    def __init__(self, engine: Engine) -> None:
        self._factory = _factory(engine)
        self.session: Session

    def __enter__(self) -> UnitOfWork:
        self.session = self._factory()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back whatever was not committed, and leaves loaded objects
        # readable (detached) rather than expired.
        try:
            self.session.close()
        except DBAPIError as lost:
            # The connection died (a restart, a killed backend) before the rollback:
            # the server rolled the transaction back when it went, so there is nothing
            # left to undo. Say nothing here; the block's own error, if any, goes on.
            if not lost.connection_invalidated:
                raise

    def commit(self) -> None:
        self.session.commit()
