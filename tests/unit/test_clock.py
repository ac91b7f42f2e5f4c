from datetime import UTC, datetime, timedelta, timezone

import pytest

from makegood.config import Settings
from makegood.core.clock import FixedClock, parse_instant


def test_instants_with_offsets_are_kept_in_utc():
    assert parse_instant("2026-03-02T18:00:00-05:00", "start") == datetime(
        2026, 3, 2, 23, tzinfo=UTC
    )
    assert parse_instant("2026-03-02T23:00:00Z", "start") == datetime(2026, 3, 2, 23, tzinfo=UTC)
    assert parse_instant("2026-03-02T23:00:00Z", "start").tzinfo is UTC


def test_a_naive_time_is_an_error_naming_the_field():
    with pytest.raises(ValueError, match="--end: .* has no UTC offset"):
        parse_instant("2026-03-02T18:00:00", "--end")


def test_garbage_is_an_error_naming_the_field():
    with pytest.raises(ValueError, match="--start: 'yesterday' is not an ISO-8601 instant"):
        parse_instant("yesterday", "--start")


def test_fixed_clock_returns_its_instant_in_utc():
    clock = FixedClock(datetime(2026, 3, 2, 18, tzinfo=timezone(timedelta(hours=-5))))
    assert clock.now() == datetime(2026, 3, 2, 23, tzinfo=UTC)
    assert clock.now().utcoffset() == timedelta(0)


def test_settings_now_from_environment_makes_a_fixed_clock(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAKEGOOD_NOW", "2026-03-02T18:00:00-05:00")
    assert Settings().clock().now() == datetime(2026, 3, 2, 23, tzinfo=UTC)


def test_settings_refuse_a_naive_now(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAKEGOOD_NOW", "2026-03-02T18:00:00")
    with pytest.raises(ValueError, match="no UTC offset"):
        Settings()


def test_settings_read_makegood_toml_and_env_wins(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "makegood.toml").write_text(
        'database_url = "sqlite:///from-file.db"\n'
        'base_url = "https://file.example"\n'
        "[company]\n"
        'name = "Example Video"\n'
        'sender = "Example Video <apologies@example.com>"\n'
        "[company.support_phones]\n"
        'GB = "0800 555 0100"\n'
        'default = "1-800-555-0100"\n'
    )
    monkeypatch.setenv("MAKEGOOD_BASE_URL", "https://env.example")
    settings = Settings()
    assert settings.database_url == "sqlite:///from-file.db"
    assert settings.base_url == "https://env.example"
    assert settings.company.support_phones["GB"] == "0800 555 0100"


def test_settings_reject_unknown_keys(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "makegood.toml").write_text('databse_url = "sqlite:///typo.db"\n')
    with pytest.raises(ValueError, match="databse_url"):
        Settings()
