"""The unit of work owns the transaction. Services take a Session and never commit;
the caller decides when a whole use case is done."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker


class UnitOfWork:
    """``with UnitOfWork(engine) as uow: ...; uow.commit()`` — anything not committed
    when the block ends is rolled back."""

    def __init__(self, engine: Engine) -> None:
        self._factory = sessionmaker(bind=engine, expire_on_commit=False)
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
        self.session.close()

    def commit(self) -> None:
        self.session.commit()
