from pathlib import Path

import pytest

from certctl_engine.errors import InvalidInput, StoreError
from certctl_engine.store.location import default_data_dir, ensure_directory, resolve_location


def test_default_is_sqlite_under_certctl_home(tmp_path: Path) -> None:
    location = resolve_location(None, {"CERTCTL_HOME": str(tmp_path)})
    assert location.is_sqlite
    assert location.path == tmp_path / "certctl.db"


def test_xdg_data_home_is_used_without_certctl_home(tmp_path: Path) -> None:
    assert default_data_dir({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "certctl"


def test_environment_url_applies_when_no_argument(tmp_path: Path) -> None:
    env = {"CERTCTL_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    assert resolve_location(None, env).path == tmp_path / "x.db"
    # The command line wins over the environment.
    assert resolve_location(str(tmp_path / "y.db"), env).path == tmp_path / "y.db"


def test_postgres_url_parts() -> None:
    location = resolve_location("postgresql://certctl:p%40ss@db.internal:6543/inventory", {})
    assert (location.backend, location.host, location.port) == ("postgresql", "db.internal", 6543)
    assert (location.user, location.password, location.database) == ("certctl", "p@ss", "inventory")
    assert "p@ss" not in location.describe()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("mysql://h/db", "unsupported store URL scheme 'mysql'"),
        ("postgresql://h:notaport/db", "port is not a number"),
        ("postgresql://h:5432/", "name one database"),
        ("postgresql:///db", "no host"),
        ("sqlite://relative.db", "needs a path"),
    ],
)
def test_malformed_urls_name_the_problem(url: str, words: str) -> None:
    with pytest.raises(InvalidInput) as info:
        resolve_location(url, {})
    assert words in str(info.value)


def test_password_is_redacted_in_errors() -> None:
    with pytest.raises(InvalidInput) as info:
        resolve_location("postgresql://u:hunter2@h:x/db", {})
    assert "hunter2" not in str(info.value)


def test_unwritable_directory_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as info:
        ensure_directory(Path("/proc/certctl-cannot-exist"))
    assert "/proc/certctl-cannot-exist" in str(info.value)
