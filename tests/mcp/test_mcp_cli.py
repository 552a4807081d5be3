"""`certctl mcp` options: checked before anything is opened, one line and exit 2 when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from certctl_engine.cli import main


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["mcp", "--toolsets", "certificates,certs"], {}, "unknown toolset 'certs'; choose from certificates, pki"),
        (["mcp", "--http", "127.0.0.1:8765"], {}, "--http needs --token-env VAR"),
        (["mcp", "--http", "nowhere", "--token-env", "TOK"], {"TOK": "x" * 20}, "--http wants HOST:PORT"),
        (["mcp", "--http", "127.0.0.1:8765", "--token-env", "TOK"], {"TOK": ""}, "TOK must hold the bearer token"),
        (["mcp", "--token-env", "TOK"], {"TOK": "x" * 20}, "--token-env only applies with --http"),
    ],
)
def test_bad_options_fail_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv, env, message
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CERTCTL_HOME", str(tmp_path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    db = tmp_path / "certctl.db"
    assert main(["--db", str(db), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("certctl: ") and message in err and "\n" not in err
    assert not db.exists()  # nothing was opened
