from makegood.db import migrate
from makegood.db.engine import make_engine


def test_schema_head_constant_matches_the_newest_migration(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert migrate.head_revision(engine) == migrate.SCHEMA_HEAD
