"""The ``certctl`` console script, run for real in subprocesses against throwaway SQLite stores.

One demo store is seeded per module; tests that change data work on a copy of its whole
home directory (store plus secret key), so each of them starts from the pristine demo.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from certctl_engine.domain import CertificateStatus

DB_NAME = "c.db"
ACTOR = "tester"


def certctl_command() -> list[str]:
    script = shutil.which("certctl")
    if script:
        return [script]
    return [sys.executable, "-m", "certctl_engine.cli"]


def cli_env(home: Path | str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTCTL_")}
    env["CERTCTL_HOME"] = str(home)
    env["CERTCTL_ACTOR"] = ACTOR
    env.update(extra)
    return env


def run(
    home: Path | str, *args: str, db: str | Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``certctl [--db DB] ARGS`` with ``CERTCTL_HOME=home``; ``db`` defaults to ``home/c.db``."""
    if db is None:
        db = Path(home) / DB_NAME
    command = [*certctl_command(), "--db", str(db), *args]
    return subprocess.run(
        command,
        env=env or cli_env(home),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_ok(home: Path, *args: str) -> str:
    proc = run(home, *args)
    assert proc.returncode == 0, f"certctl {' '.join(args)} exited {proc.returncode}: {proc.stderr}"
    return proc.stdout


def run_json(home: Path, *args: str) -> Any:
    return json.loads(run_ok(home, *args, "--json"))


def assert_one_line_error(proc: subprocess.CompletedProcess[str], exit_code: int) -> str:
    """The command failed with ``exit_code`` and said why in exactly one stderr line."""
    assert proc.returncode == exit_code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {lines!r}"
    assert lines[0].strip()
    return lines[0]


def list_ids(home: Path, *args: str) -> list[str]:
    return [c["id"] for c in run_json(home, "certs", "list", *args)["items"]]


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CERTCTL_HOME holding the seeded demo store c.db (read-only for the tests that use it)."""
    home = tmp_path_factory.mktemp("cli-demo")
    proc = run(home, "demo")
    assert proc.returncode == 0, proc.stderr
    assert "seeded the demo" in proc.stdout
    return home


@pytest.fixture
def demo_copy(demo_home: Path, tmp_path: Path) -> Path:
    """A private copy of the demo home (store and secret key) that a test may change."""
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    return home


@pytest.fixture(scope="module")
def all_certs(demo_home: Path) -> list[dict[str, Any]]:
    """Every non-archived demo certificate, as ``certs list --all --json`` prints them."""
    data = run_json(demo_home, "certs", "list", "--all")
    assert data["next_cursor"] is None
    return data["items"]


# ---------------------------------------------------------------------- certs list


def test_list_json_shows_every_status_except_archived(demo_home: Path) -> None:
    data = run_json(demo_home, "certs", "list")
    ids = [c["id"] for c in data["items"]]
    assert "mc-api-prod" in ids
    assert len(ids) == len(set(ids))
    statuses = {c["status"] for c in data["items"]}
    assert statuses == {s.value for s in CertificateStatus} - {CertificateStatus.ARCHIVED.value}
    assert "mc-printer-mgmt" not in ids
    assert data["next_cursor"] is None  # 31 rows fit the default page of 50


def test_list_include_archived_adds_the_archived_printer(demo_home: Path, all_certs: list[dict[str, Any]]) -> None:
    with_archived = run_json(demo_home, "certs", "list", "--include-archived")["items"]
    ids = {c["id"] for c in with_archived}
    assert ids - {c["id"] for c in all_certs} == {"mc-printer-mgmt"}
    assert len(with_archived) == 32
    printer = next(c for c in with_archived if c["id"] == "mc-printer-mgmt")
    assert printer["status"] == CertificateStatus.ARCHIVED.value


def test_list_status_filter_returns_only_that_status(demo_home: Path, all_certs: list[dict[str, Any]]) -> None:
    items = run_json(demo_home, "certs", "list", "--status", "Expiring")["items"]
    assert items
    assert {c["status"] for c in items} == {"Expiring"}
    assert {c["id"] for c in items} == {c["id"] for c in all_certs if c["status"] == "Expiring"}


def test_list_query_matches_name_cn_or_san(demo_home: Path, all_certs: list[dict[str, Any]]) -> None:
    def mentions_staging(cert: dict[str, Any]) -> bool:
        return any("staging.example" in t.lower() for t in (cert["name"], cert["common_name"], *cert["sans"]))

    items = run_json(demo_home, "certs", "list", "-q", "staging.example")["items"]
    assert items
    assert all(mentions_staging(c) for c in items)
    assert {c["id"] for c in items} == {c["id"] for c in all_certs if mentions_staging(c)}
    assert "mc-api-stg" in {c["id"] for c in items}  # matched through its CN, not its name
    # The issuer's name counts too: "Let's Encrypt Staging" is iss-acme-le's.
    by_issuer = run_json(demo_home, "certs", "list", "-q", "encrypt staging")["items"]
    assert by_issuer and {c["id"] for c in by_issuer} == {c["id"] for c in all_certs if c["issuer_id"] == "iss-acme-le"}


def test_list_cursor_paging_visits_each_certificate_once(demo_home: Path, all_certs: list[dict[str, Any]]) -> None:
    first = run_json(demo_home, "certs", "list", "--limit", "5")
    assert len(first["items"]) == 5
    assert first["next_cursor"]
    seen = [c["id"] for c in first["items"]]
    cursor = first["next_cursor"]
    pages = 1
    while cursor:
        page = run_json(demo_home, "certs", "list", "--limit", "5", "--cursor", cursor)
        assert 1 <= len(page["items"]) <= 5
        seen.extend(c["id"] for c in page["items"])
        cursor = page["next_cursor"]
        pages += 1
        assert pages <= 20, "paging does not end"
    assert len(seen) == len(set(seen)), "a certificate was listed twice"
    assert seen == [c["id"] for c in all_certs]  # same order as the one-shot --all listing
    assert len(seen) == 31
    # --all with a small page size pages through to the same result.
    assert list_ids(demo_home, "--all", "--limit", "5") == seen


# ---------------------------------------------------------------------- certs show


def test_show_prints_sans_and_versions(demo_home: Path) -> None:
    out = run_ok(demo_home, "certs", "show", "mc-web-prod")
    data = run_json(demo_home, "certs", "show", "mc-web-prod")
    assert re.search(r"SANs\s+example\.com, www\.example\.com", out)
    versions = data["versions"]
    assert versions
    assert f"versions ({len(versions)}):" in out
    assert re.search(r"SERIAL\s+NOT BEFORE\s+NOT AFTER\s+KEY\s+FINGERPRINT", out)
    for version in versions:
        assert version["serial_number"] in out

    out = run_ok(demo_home, "certs", "show", "mc-api-prod")
    assert re.search(r"SANs\s+api\.example\.com", out)
    assert "versions (3):" in out
    assert "ECDSA 256" in out


def test_show_unknown_certificate_is_one_line_error(demo_home: Path) -> None:
    proc = run(demo_home, "certs", "show", "nope")
    line = assert_one_line_error(proc, 1)
    assert "no certificate 'nope'" in line
    assert proc.stdout == ""


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("db", "args", "exit_code", "needle"),
    [
        ("mysql://h/db", ["certs", "list"], 2, "mysql"),
        ("postgresql://h:notaport/db", ["certs", "list"], 2, "port"),
        (None, ["frobnicate"], 2, "frobnicate"),
        (None, ["certs", "frobnicate"], 2, "frobnicate"),
        (None, ["certs", "list", "--limit", "many"], 2, "many"),
    ],
    ids=["mysql-url", "postgres-bad-port", "unknown-command", "unknown-certs-action", "bad-int"],
)
def test_bad_command_lines_fail_with_one_line(
    tmp_path: Path, db: str | None, args: list[str], exit_code: int, needle: str
) -> None:
    proc = run(tmp_path, *args, db=db)
    line = assert_one_line_error(proc, exit_code)
    assert needle in line
    assert proc.stdout == ""


def test_unknown_status_names_the_allowed_ones(demo_home: Path) -> None:
    proc = run(demo_home, "certs", "list", "--status", "Bogus")
    line = assert_one_line_error(proc, 2)
    assert "Bogus" in line
    for status in CertificateStatus:
        assert status.value in line


def test_unwritable_data_directory_is_one_line_failure(tmp_path: Path) -> None:
    home = "/proc/certctl-nope"
    proc = subprocess.run(
        [*certctl_command(), "certs", "list"],
        env=cli_env(home),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    line = assert_one_line_error(proc, 1)
    assert home in line


# ---------------------------------------------------------------------- audit


def test_audit_verify_on_the_demo_is_intact(demo_home: Path) -> None:
    proc = run(demo_home, "audit", "verify")
    assert proc.returncode == 0, proc.stderr
    assert "intact" in proc.stdout
    data = run_json(demo_home, "audit", "verify")
    assert data["ok"] is True
    assert data["events_checked"] > 170
    assert data["first_broken_sequence"] is None


def _sql(home: Path, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(home / DB_NAME) as conn:
        rows = conn.execute(statement, params).fetchall()
    conn.close()
    return rows


def test_audit_verify_names_an_edited_event(demo_copy: Path) -> None:
    [(event_id,)] = _sql(demo_copy, "SELECT id FROM audit_events WHERE sequence = 7")
    _sql(demo_copy, """UPDATE audit_events SET details='{"tampered":true}' WHERE sequence=7""")

    proc = run(demo_copy, "audit", "verify")
    assert proc.returncode == 1
    assert "BROKEN" in proc.stdout
    assert "#7 " in proc.stdout
    assert event_id in proc.stdout
    assert "hash mismatch" in proc.stdout

    verify = run(demo_copy, "audit", "verify", "--json")
    assert verify.returncode == 1
    data = json.loads(verify.stdout)
    assert data["ok"] is False
    assert data["first_broken_sequence"] == 7
    assert data["first_broken_event_id"] == event_id
    assert data["events_checked"] == 6


def test_audit_verify_reports_a_deleted_event_as_a_sequence_jump(demo_copy: Path) -> None:
    [(next_id,)] = _sql(demo_copy, "SELECT id FROM audit_events WHERE sequence = 10")
    _sql(demo_copy, "DELETE FROM audit_events WHERE sequence = 9")

    proc = run(demo_copy, "audit", "verify")
    assert proc.returncode == 1
    # #9 is gone, so the first event that no longer fits is #10, and the problem names the gap.
    assert "sequence jumps from 8 to 10" in proc.stdout
    assert "#10 " in proc.stdout
    assert next_id in proc.stdout

    verify = run(demo_copy, "audit", "verify", "--json")
    assert verify.returncode == 1
    data = json.loads(verify.stdout)
    assert data["ok"] is False
    assert data["first_broken_sequence"] == 10
    assert data["first_broken_event_id"] == next_id
    assert data["events_checked"] == 8
    assert "1 event(s) deleted" in data["problem"]


# ---------------------------------------------------------------------- writing


def test_create_show_archive_and_audit(demo_copy: Path) -> None:
    out = run_ok(
        demo_copy,
        "certs",
        "create",
        "--cn",
        "api2.example.com",
        "--issuer",
        "iss-local",
        "--san",
        "www2.example.com",
        "--owner",
        "o-alice",
    )
    match = re.search(r"created certificate (\S+) \(api2\.example\.com\), status Pending", out)
    assert match, out
    cert_id = match.group(1)

    shown = run_ok(demo_copy, "certs", "show", cert_id)
    assert re.search(r"common name\s+api2\.example\.com", shown)
    assert re.search(r"^\s*SANs\s+www2\.example\.com$", shown, re.MULTILINE)
    assert re.search(r"owner\s+o-alice", shown)
    assert re.search(r"team\s+t-platform", shown)  # taken from the owner
    assert re.search(r"status\s+Pending", shown)
    assert "not issued" in shown
    assert "versions (0):" in shown
    assert cert_id in list_ids(demo_copy, "--status", "Pending")

    out = run_ok(demo_copy, "certs", "archive", cert_id)
    assert f"archived certificate {cert_id}" in out
    assert cert_id not in list_ids(demo_copy, "--all")
    assert cert_id in list_ids(demo_copy, "--status", "Archived")

    again = run(demo_copy, "certs", "archive", cert_id)
    line = assert_one_line_error(again, 1)
    assert "already archived" in line

    events = run_json(demo_copy, "audit", "list", "--action", "certificate_archived")["items"]
    assert {e["action"] for e in events} == {"certificate_archived"}
    newest = events[0]
    assert newest["resource_type"] == "certificate"
    assert newest["resource_id"] == cert_id
    assert newest["actor"] == ACTOR
    assert newest["actor_type"] == "User"
    assert newest["details"] == {"previous_status": "Pending"}
    # The demo's own archive event (the printer) is older and is still there.
    assert [e["resource_id"] for e in events[1:]] == ["mc-printer-mgmt"]
    created = run_json(demo_copy, "audit", "list", "--resource-id", cert_id, "--action", "certificate_created")
    assert [e["actor"] for e in created["items"]] == [ACTOR]

    assert run(demo_copy, "audit", "verify").returncode == 0


def test_demo_twice_then_reset(demo_copy: Path) -> None:
    again = run(demo_copy, "demo")
    assert again.returncode == 0, again.stderr
    assert "already present" in again.stdout
    assert "32 certificates" in again.stdout

    run_ok(demo_copy, "certs", "create", "--cn", "extra.example.com", "--issuer", "iss-local")
    assert len(list_ids(demo_copy, "--all", "--include-archived")) == 33

    reset = run(demo_copy, "demo", "--reset")
    assert reset.returncode == 0, reset.stderr
    assert "seeded the demo" in reset.stdout
    ids = list_ids(demo_copy, "--all", "--include-archived")
    assert len(ids) == 32
    assert "extra.example.com" not in ids
    verify = run(demo_copy, "audit", "verify")
    assert verify.returncode == 0
    assert "intact" in verify.stdout


def test_demo_json_reports_counts(tmp_path: Path) -> None:
    data = run_json(tmp_path, "demo")
    assert data["seeded"] is True
    assert data["certificates"] == 32
    assert data["audit_events"] > 170
    again = run_json(tmp_path, "demo")
    assert again["seeded"] is False
    assert again["certificates"] == 32


def test_db_upgrade_creates_then_is_up_to_date(tmp_path: Path) -> None:
    db = tmp_path / "fresh" / "store.db"
    db.parent.mkdir()
    first = run(tmp_path, "db", "upgrade", db=db)
    assert first.returncode == 0, first.stderr
    assert "created store" in first.stdout
    assert str(db) in first.stdout
    assert db.exists()
    second = run(tmp_path, "db", "upgrade", db=db)
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout
    report = run_json(tmp_path, "db", "upgrade")  # default --db: tmp_path/c.db, created now
    assert report["report"]["created"] is True


# ---------------------------------------------------------------------- targets
def test_targets_list_snippet_and_test(demo_home: Path) -> None:
    targets = {t["id"]: t for t in run_json(demo_home, "targets", "list")}
    assert targets["tgt-nginx-prod"]["type"] == "NGINX" and targets["tgt-nginx-prod"]["agent_id"] == "ag-web-prod"
    assert "demo-f5-password" not in run_ok(demo_home, "targets", "list", "--json")  # secrets stay redacted
    assert run_ok(demo_home, "targets", "snippet", "tgt-nginx-prod") == (
        "ssl_certificate /etc/nginx/tls/fullchain.pem;\nssl_certificate_key /etc/nginx/tls/privkey.pem;\n"
    )
    line = assert_one_line_error(run(demo_home, "targets", "snippet", "tgt-f5-prod"), 2)
    assert "F5 targets need no server configuration lines" in line
    tested = run(demo_home, "targets", "test", "tgt-nginx-prod")
    assert tested.returncode == 0 and tested.stdout.startswith(
        "ok: configuration valid; agent 'ag-web-prod' deploys to it"
    )
    unsupported = run(demo_home, "targets", "test", "tgt-f5-prod")
    assert unsupported.returncode == 1
    assert unsupported.stdout.startswith("failed: configuration: no connector for F5 targets")
    assert_one_line_error(run(demo_home, "targets", "test", "tgt-nope"), 1)
