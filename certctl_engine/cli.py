"""The ``certctl`` console script.

Exit codes: 0 done, 1 the operation failed (the message says why), 2 the command line was
wrong. Errors are printed as one line on stderr, never as a traceback. Faces (the terminal
dashboard, the MCP server) are imported only when their command runs, so the engine never
depends on them.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from certctl_engine.domain import (
    Actor,
    Certificate,
    CertificateFilter,
    CertificateSortField,
    CertificateStatus,
    JobStatus,
    JobType,
    RevocationReason,
    SortOrder,
)
from certctl_engine.errors import CertctlError, InvalidInput
from certctl_engine.serialize import to_jsonable

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """The command line itself is wrong (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def cli_actor() -> Actor:
    """Who the CLI acts as: ``$CERTCTL_ACTOR`` or ``cli:<login name>``."""
    name = os.environ.get("CERTCTL_ACTOR")
    if not name:
        try:
            name = f"cli:{getpass.getuser()}"
        except (KeyError, OSError):
            name = "cli"
    return Actor(name)


def _open_engine(args: argparse.Namespace) -> Any:
    from certctl_engine.engine import Engine

    return Engine.open(args.db)


def _print_json(value: Any) -> None:
    print(json.dumps(to_jsonable(value), indent=2, sort_keys=False))


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip()]
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return "\n".join(lines)


def _span(seconds: float) -> str:
    """A short human span: 45m, 5h, 12d."""
    seconds = abs(seconds)
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def _expires(cert: Certificate, now: datetime) -> str:
    if cert.expires_at is None:
        return "not issued"
    left = (cert.expires_at - now).total_seconds()
    when = cert.expires_at.strftime("%Y-%m-%d")
    if left < 0:
        return f"{when} (expired {_span(left)} ago)"
    return f"{when} (in {_span(left)})"


# ---------------------------------------------------------------------- certs
def _cert_filter(args: argparse.Namespace) -> CertificateFilter:
    from certctl_engine.services.validation import parse_enum

    statuses = tuple(parse_enum(CertificateStatus, s, "status") for s in (args.status or []))
    return CertificateFilter(
        statuses=statuses,
        issuer_id=args.issuer,
        owner_id=args.owner,
        team_id=args.team,
        profile_id=args.profile,
        environment=args.environment,
        expiring_within_days=args.expiring_within,
        query=args.query,
        include_archived=args.include_archived,
    )


def cmd_certs_list(args: argparse.Namespace) -> int:
    flt = _cert_filter(args)
    with _open_engine(args) as engine:
        items: list[Certificate] = []
        cursor = args.cursor
        while True:
            page = engine.certificates.list(
                flt,
                sort=args.sort,
                order=SortOrder.DESC if args.desc else SortOrder.ASC,
                limit=args.limit,
                cursor=cursor,
            )
            items.extend(page.items)
            cursor = page.next_cursor
            if not args.all or cursor is None:
                break
        if args.json:
            _print_json({"items": items, "next_cursor": cursor})
            return EXIT_OK
        now = engine.now()
        rows = [
            [
                c.id,
                c.name,
                c.common_name,
                c.status.value,
                _expires(c, now),
                c.issuer_id,
                c.owner_id or "-",
                c.team_id or "-",
            ]
            for c in items
        ]
        print(_table(["ID", "NAME", "COMMON NAME", "STATUS", "EXPIRES", "ISSUER", "OWNER", "TEAM"], rows))
        if cursor:
            print(f"\nmore: certctl certs list --cursor {cursor}  (or --all)")
    return EXIT_OK


def cmd_certs_show(args: argparse.Namespace) -> int:
    with _open_engine(args) as engine:
        cert = engine.certificates.get(args.id)
        versions = engine.certificates.list_versions(args.id)
        if args.json:
            _print_json({"certificate": cert, "versions": versions})
            return EXIT_OK
        now = engine.now()
        fields = [
            ("id", cert.id),
            ("name", cert.name),
            ("common name", cert.common_name),
            ("SANs", ", ".join(cert.sans) or "-"),
            ("status", cert.status.value),
            ("expires", _expires(cert, now)),
            ("issuer", cert.issuer_id),
            ("owner", cert.owner_id or "-"),
            ("team", cert.team_id or "-"),
            ("profile", cert.certificate_profile_id or "-"),
            ("renewal policy", cert.renewal_policy_id),
            ("environment", cert.environment or "-"),
            ("targets", ", ".join(cert.target_ids) or "-"),
            ("tags", ", ".join(f"{k}={v}" for k, v in sorted(cert.tags.items())) or "-"),
            ("created", cert.created_at.isoformat()),
            ("updated", cert.updated_at.isoformat()),
        ]
        if cert.revoked_at:
            fields.append(("revoked", f"{cert.revoked_at.isoformat()} ({cert.revocation_reason})"))
        width = max(len(k) for k, _ in fields)
        for key, value in fields:
            print(f"{key.rjust(width)}  {value}")
        print(f"\nversions ({len(versions)}):")
        if versions:
            print(
                _table(
                    ["SERIAL", "NOT BEFORE", "NOT AFTER", "KEY", "FINGERPRINT"],
                    [
                        [
                            v.serial_number,
                            v.not_before.strftime("%Y-%m-%d"),
                            v.not_after.strftime("%Y-%m-%d"),
                            f"{v.key_algorithm or '?'} {v.key_size}",
                            v.fingerprint_sha256[:16] + "…",
                        ]
                        for v in versions
                    ],
                )
            )
    return EXIT_OK


def _parse_tags(values: Sequence[str] | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in values or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"tag '{item}' must be written KEY=VALUE", field="tag")
        tags[key] = value
    return tags


def cmd_certs_create(args: argparse.Namespace) -> int:
    with _open_engine(args) as engine:
        cert = engine.certificates.create(
            name=args.name or args.common_name,
            common_name=args.common_name,
            sans=args.san or [],
            issuer_id=args.issuer,
            owner_id=args.owner,
            team_id=args.team,
            certificate_profile_id=args.profile,
            renewal_policy_id=args.policy,
            environment=args.environment or "",
            tags=_parse_tags(args.tag),
            target_ids=args.target or [],
            id=args.id,
            actor=cli_actor(),
        )
        if args.json:
            _print_json(cert)
        else:
            print(f"created certificate {cert.id} ({cert.name}), status {cert.status.value}")
            job = engine.jobs.active_for(cert.id, JobType.ISSUANCE)
            if job is not None:
                then = (
                    "another person approves it with 'certctl jobs approve'"
                    if job.status is JobStatus.AWAITING_APPROVAL
                    else "the engine's job processor issues it, or 'certctl certs issue' does now"
                )
                print(f"queued issuance job {job.id} ({job.status.value}): {then}")
    return EXIT_OK


def cmd_certs_archive(args: argparse.Namespace) -> int:
    with _open_engine(args) as engine:
        cert = engine.certificates.archive(args.id, actor=cli_actor())
        if args.json:
            _print_json(cert)
        else:
            print(f"archived certificate {cert.id} ({cert.name})")
    return EXIT_OK


# ---------------------------------------------------------------------- issuance, revocation, exchange
def _read_file(path: str, what: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc.strerror or exc}", field=what) from None


def _passphrase(args: argparse.Namespace, *, required: bool, confirm: bool = False) -> bytes | None:
    """From --passphrase-file or --passphrase-env, else asked on the terminal; never on the command line."""
    if getattr(args, "passphrase_file", None):
        return _read_file(args.passphrase_file, "passphrase file").rstrip(b"\r\n")
    if getattr(args, "passphrase_env", None):
        value = os.environ.get(args.passphrase_env)
        if not value:
            raise InvalidInput(f"environment variable {args.passphrase_env} is empty or unset", field="passphrase")
        return value.encode()
    if not required:
        return None
    if not sys.stdin.isatty():
        raise InvalidInput("a passphrase is needed: give --passphrase-file FILE or --passphrase-env VAR")
    first = getpass.getpass("passphrase: ")
    if confirm and getpass.getpass("again: ") != first:
        raise InvalidInput("the two passphrases differ")
    return first.encode()


def _key_spec(value: str | None) -> Any:
    if value is None:
        return None
    from certctl_engine.pki.keys import KeySpec

    return KeySpec.parse(value)


def _print_version(args: argparse.Namespace, version: Any, verb: str) -> None:
    if args.json:
        _print_json(version)
    else:
        key = "server-held key" if version.has_private_key else "key stays with the requester"
        print(
            f"{verb} {version.certificate_id}: serial {version.serial_number}, valid until "
            f"{version.not_after:%Y-%m-%d %H:%M} UTC, {version.key_algorithm} {version.key_size} ({key})"
        )


def _issue_command(renew: bool) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        csr = _read_file(args.csr, "CSR file") if args.csr else None
        with _open_engine(args) as engine:
            call = engine.issuance.renew if renew else engine.issuance.issue
            version = call(
                args.id, actor=cli_actor(), key_spec=_key_spec(args.key_type), ttl_seconds=args.ttl, csr_pem=csr
            )
            _print_version(args, version, "renewed" if renew else "issued")
        return EXIT_OK

    return handler


cmd_certs_issue = _issue_command(renew=False)
cmd_certs_renew = _issue_command(renew=True)


def cmd_certs_revoke(args: argparse.Namespace) -> int:
    with _open_engine(args) as engine:
        cert = engine.revocation.revoke(args.id, args.reason, actor=cli_actor())
        if args.json:
            _print_json(cert)
        else:
            print(f"revoked {cert.id} ({cert.name}): {cert.revocation_reason}")
    return EXIT_OK


def cmd_certs_export(args: argparse.Namespace) -> int:
    from certctl_engine.files import write_atomic

    passphrase = _passphrase(args, required=args.format == "pkcs12" or (args.key and not args.no_encrypt), confirm=True)
    with _open_engine(args) as engine:
        if args.format == "pkcs12":
            assert passphrase is not None
            blob = engine.exchange.export_pkcs12(args.id, passphrase, actor=cli_actor(), include_key=args.key)
            if not args.out:
                raise InvalidInput("PKCS#12 is binary: give --out FILE", field="out")
            write_atomic(Path(args.out), blob, mode=0o600)
            print(f"wrote {args.out} (PKCS#12{', with private key' if args.key else ''})")
            return EXIT_OK
        bundle = engine.exchange.export_pem(
            args.id, actor=cli_actor(), include_key=args.key, passphrase=passphrase, unencrypted_key=args.no_encrypt
        )
    parts = {"cert": bundle.certificate, "chain": bundle.chain, "fullchain": bundle.full_chain}
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for stem, text in parts.items():
            write_atomic(out / f"{stem}.pem", text.encode())
        if bundle.private_key:
            write_atomic(out / "privkey.pem", bundle.private_key.encode(), mode=0o600)
        print(f"wrote {', '.join(sorted(p.name for p in out.glob('*.pem')))} to {out}")
    else:
        sys.stdout.write(bundle.full_chain)
        if bundle.private_key:
            sys.stdout.write(bundle.private_key)
    return EXIT_OK


def _import_sources(paths: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file() and p.suffix.lower() in {".pem", ".crt", ".cer", ".cert", ".der"}
                )
            )
        elif path.exists():
            files.append(path)
        else:
            raise InvalidInput(f"no such file or directory: {raw}", field="path")
    if not files:
        raise InvalidInput("no certificate files found (looked for .pem .crt .cer .cert .der)", field="path")
    return files


def cmd_certs_import(args: argparse.Namespace) -> int:
    key = _read_file(args.key, "key file") if args.key else None
    passphrase = _passphrase(args, required=False)
    imported: list[Any] = []
    failures: list[str] = []
    with _open_engine(args) as engine:
        for path in _import_sources(args.paths):
            try:
                items = engine.exchange.import_pem(
                    _read_file(str(path), "certificate file"),
                    actor=cli_actor(),
                    issuer_id=args.issuer,
                    key_pem=key,
                    key_passphrase=passphrase,
                    name=args.name,
                    owner_id=args.owner,
                    team_id=args.team,
                    certificate_profile_id=args.profile,
                    environment=args.environment or "",
                    source=str(path),
                )
            except CertctlError as exc:
                failures.append(f"{path}: {exc}")
                continue
            imported.extend(items)
            if not args.json:
                for item in items:
                    extra = " with its private key" if item.had_private_key else ""
                    print(f"imported {path} as {item.certificate.id} ({item.certificate.status.value}){extra}")
    if args.json:
        _print_json({"imported": [i.certificate for i in imported], "failed": failures})
    for failure in failures:
        print(f"certctl: {failure}", file=sys.stderr)
    if not args.json:
        print(f"{len(imported)} imported, {len(failures)} failed")
    return EXIT_FAILURE if failures else EXIT_OK


def cmd_ca_init(args: argparse.Namespace) -> int:
    cert = _read_file(args.cert, "CA certificate file") if args.cert else None
    key = _read_file(args.key, "CA key file") if args.key else None
    passphrase = _passphrase(args, required=False)
    with _open_engine(args) as engine:
        info = engine.ca.init(
            args.issuer,
            actor=cli_actor(),
            cert_pem=cert,
            key_pem=key,
            passphrase=passphrase,
            common_name=args.cn,
            key_spec=_key_spec(args.key_type),
        )
        _print_ca(args, info)
    return EXIT_OK


def _print_ca(args: argparse.Namespace, info: Any) -> None:
    if args.json:
        _print_json(info)
        return
    print(f"issuer       {info.issuer_id} ({info.mode})")
    print(f"subject      {info.subject}")
    print(f"valid        {info.not_before:%Y-%m-%d} to {info.not_after:%Y-%m-%d}")
    print(f"key          {info.key_algorithm.value} {info.key_size}")
    print(f"fingerprint  {info.fingerprint_sha256}")
    print(f"chain        {info.chain_length} certificate(s) above it")
    print(f"CRL number   {info.crl_number}")


def cmd_ca_show(args: argparse.Namespace) -> int:
    with _open_engine(args) as engine:
        info = engine.ca.info(args.issuer)
        if args.pem:
            sys.stdout.write(info.certificate_pem + info.chain_pem)
        else:
            _print_ca(args, info)
    return EXIT_OK


def cmd_ca_crl(args: argparse.Namespace) -> int:
    from certctl_engine.files import write_atomic
    from certctl_engine.pki.crl import crl_to_pem, load_crl

    with _open_engine(args) as engine:
        der = engine.revocation.crl(args.issuer, actor=cli_actor())
    data = crl_to_pem(load_crl(der)).encode() if args.pem else der
    if args.out:
        write_atomic(Path(args.out), data)
        print(f"wrote {args.out} ({'PEM' if args.pem else 'DER'} CRL)")
    elif args.pem:
        sys.stdout.write(data.decode())
    else:
        raise InvalidInput("a DER CRL is binary: give --out FILE or --pem", field="out")
    return EXIT_OK


def cmd_ca_check(args: argparse.Namespace) -> int:
    with _open_engine(args) as engine:
        result = engine.revocation.check(args.issuer, args.serial)
    if args.json:
        _print_json(result)
    else:
        extra = f" since {result.revoked_at:%Y-%m-%d %H:%M} UTC ({result.reason})" if result.revoked_at else ""
        print(f"{result.serial_number}: {result.status}{extra}")
    return EXIT_OK


# ---------------------------------------------------------------------- targets
def cmd_targets_list(args: argparse.Namespace) -> int:
    with _open_engine(args) as engine:
        targets = engine.targets.list(args.agent)
    if args.json:
        _print_json(targets)
    else:
        rows = [(t.id, t.name, t.type.value, t.agent_id or "(engine)", "yes" if t.enabled else "no") for t in targets]
        print(_table(("ID", "NAME", "TYPE", "DEPLOYED BY", "ENABLED"), rows))
    return EXIT_OK


def cmd_targets_snippet(args: argparse.Namespace) -> int:
    with _open_engine(args) as engine:
        sys.stdout.write(engine.deployments.snippet(args.id))
    return EXIT_OK


def cmd_targets_test(args: argparse.Namespace) -> int:
    with _open_engine(args) as engine:
        check = engine.deployments.check_target(args.id)
    if args.json:
        _print_json(check)
    else:
        print(("ok: " if check.ok else "failed: ") + check.message)
    return EXIT_OK if check.ok else EXIT_FAILURE


# ---------------------------------------------------------------------- audit
def _parse_time(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{field} '{value}' is not an ISO 8601 date or time", field=field) from None
    from certctl_engine.store.fields import to_utc

    return to_utc(parsed)


def cmd_audit_list(args: argparse.Namespace) -> int:
    with _open_engine(args) as engine:
        page = engine.audit.list(
            resource_type=args.resource_type,
            resource_id=args.resource_id,
            actor=args.actor,
            action=args.action,
            since=_parse_time(args.since, "since"),
            until=_parse_time(args.until, "until"),
            limit=args.limit,
            cursor=args.cursor,
        )
        if args.json:
            _print_json({"items": page.items, "next_cursor": page.next_cursor})
            return EXIT_OK
        rows = [
            [
                str(e.sequence),
                e.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
                e.actor,
                e.action,
                f"{e.resource_type}/{e.resource_id}",
            ]
            for e in page.items
        ]
        print(_table(["SEQ", "TIME (UTC)", "ACTOR", "ACTION", "RESOURCE"], rows))
        if page.next_cursor:
            print(f"\nmore: certctl audit list --cursor {page.next_cursor}")
    return EXIT_OK


def cmd_audit_verify(args: argparse.Namespace) -> int:
    with _open_engine(args) as engine:
        result = engine.audit.verify()
        if args.json:
            _print_json(result)
        elif result.ok:
            print(f"audit chain intact: {result.events_checked} events verified")
        else:
            print(
                f"audit chain BROKEN at event #{result.first_broken_sequence} ({result.first_broken_event_id}): "
                f"{result.problem}; {result.events_checked} events before it verified"
            )
        return EXIT_OK if result.ok else EXIT_FAILURE


# ---------------------------------------------------------------------- db / demo
def cmd_db_upgrade(args: argparse.Namespace) -> int:
    with _open_engine(args) as engine:
        report = engine.upgrade_report
        if args.json:
            _print_json({"location": engine.location.describe(), "report": report})
        elif report is None or not report.changed:
            print(f"store {engine.location.describe()} is up to date (schema v{report.to_version if report else '?'})")
        elif report.created:
            print(f"created store {engine.location.describe()} at schema v{report.to_version}")
        else:
            print(
                f"upgraded store {engine.location.describe()} from schema v{report.from_version} "
                f"to v{report.to_version}"
            )
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from certctl_engine.demo import seed_demo

    with _open_engine(args) as engine:
        result = seed_demo(engine, reset=args.reset, progress=None if args.json else print)
        if args.json:
            _print_json(result)
    return EXIT_OK


def cmd_tui(args: argparse.Namespace) -> int:
    """The terminal dashboard; ``--demo`` seeds the demo dataset into an empty store first."""
    if not sys.stdin.isatty() or not sys.stdout.isatty():
        raise UsageError("certctl: the dashboard needs a terminal; run a subcommand instead")
    from certctl_tui import CertctlApp

    with _open_engine(args) as engine:
        if args.demo:
            from certctl_engine.demo import seed_demo

            seed_demo(engine)
        result = CertctlApp(engine, read_only=args.read_only).run()
    return int(result or EXIT_OK)


def cmd_mcp(args: argparse.Namespace) -> int:
    """Serve the MCP face (imported only now: the engine never depends on mcp)."""
    import certctl_mcp  # the package root only: the import contract ignores exactly this edge

    options = certctl_mcp.check_options(
        read_only=bool(getattr(args, "read_only", False)),
        toolsets=args.toolsets,
        http=args.http,
        token_env=args.token_env,
    )
    with _open_engine(args) as engine:
        certctl_mcp.serve(engine, options)
    return EXIT_OK


def cmd_no_face(args: argparse.Namespace) -> int:
    """``certctl`` with no subcommand opens the dashboard."""
    return cmd_tui(args)


# ---------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="certctl",
        description="Certificate lifecycle management: inventory, issuance, renewal, deployment and audit.",
    )
    parser.add_argument(
        "--db",
        metavar="PATH_OR_URL",
        default=None,
        help="the store: a SQLite file path, sqlite:///PATH or postgresql://USER@HOST:PORT/DB "
        "(default: $CERTCTL_DATABASE_URL, else certctl.db in the user's data directory)",
    )
    parser.add_argument("--version", action="version", version="certctl 0.1.0")

    def face_flags(p: argparse.ArgumentParser, *, top: bool) -> None:
        # On the subcommand the flags default to "not given", so `certctl --demo tui` keeps the top-level value.
        default = False if top else argparse.SUPPRESS
        p.add_argument(
            "--demo",
            action="store_true",
            default=default,
            help="seed the demo dataset into an empty store first, then open the dashboard",
        )
        p.add_argument(
            "--read-only", action="store_true", default=default, help="the dashboard offers nothing that changes data"
        )

    face_flags(parser, top=True)
    parser.set_defaults(handler=cmd_no_face, parser=parser)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)

    tui = commands.add_parser("tui", help="the terminal dashboard (also: certctl with no command)")
    face_flags(tui, top=False)
    tui.set_defaults(handler=cmd_tui)

    def json_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    # demo
    demo = commands.add_parser("demo", help="seed the demo dataset into the store")
    demo.add_argument("--reset", action="store_true", help="delete the demo data first and seed it again")
    json_flag(demo)
    demo.set_defaults(handler=cmd_demo)

    # certs
    certs = commands.add_parser("certs", help="the certificate inventory")
    certs.set_defaults(handler=lambda a: _sub_help(certs))
    certs_cmds = certs.add_subparsers(title="certificate commands", metavar="ACTION", parser_class=_Parser)

    lst = certs_cmds.add_parser("list", help="list certificates (filtered, sorted, paged)")
    lst.add_argument(
        "--status",
        action="append",
        metavar="STATUS",
        help="only this status (repeatable): " + ", ".join(s.value for s in CertificateStatus),
    )
    lst.add_argument("--issuer", metavar="ID")
    lst.add_argument("--owner", metavar="ID")
    lst.add_argument("--team", metavar="ID")
    lst.add_argument("--profile", metavar="ID")
    lst.add_argument("--environment", "--env", metavar="NAME")
    lst.add_argument("--expiring-within", type=int, metavar="DAYS", help="expiring between now and DAYS from now")
    lst.add_argument(
        "--query",
        "-q",
        metavar="TEXT",
        help="text search over name, CN, SANs and the owner, team and issuer names (!TEXT: not matching)",
    )
    lst.add_argument("--include-archived", action="store_true", help="also show archived certificates")
    lst.add_argument(
        "--sort", default=CertificateSortField.EXPIRES_AT.value, choices=[f.value for f in CertificateSortField]
    )
    lst.add_argument("--desc", action="store_true", help="sort descending")
    lst.add_argument("--limit", type=int, default=50, help="rows per page (1-500, default 50)")
    lst.add_argument("--cursor", help="continue from a previous page's cursor")
    lst.add_argument("--all", action="store_true", help="page through everything")
    json_flag(lst)
    lst.set_defaults(handler=cmd_certs_list)

    show = certs_cmds.add_parser("show", help="one certificate with its versions")
    show.add_argument("id")
    json_flag(show)
    show.set_defaults(handler=cmd_certs_show)

    create = certs_cmds.add_parser(
        "create", help="register a managed certificate and queue its issuance job (the engine issues it)"
    )
    create.add_argument("--cn", "--common-name", dest="common_name", required=True)
    create.add_argument("--name", help="unique name (default: the common name)")
    create.add_argument("--san", action="append", metavar="NAME", help="subject alternative name (repeatable)")
    create.add_argument("--issuer", required=True, metavar="ID")
    create.add_argument("--owner", metavar="ID")
    create.add_argument("--team", metavar="ID")
    create.add_argument("--profile", metavar="ID")
    create.add_argument("--policy", metavar="ID", help="renewal policy (default: rp-default)")
    create.add_argument("--environment", "--env", metavar="NAME")
    create.add_argument("--tag", action="append", metavar="KEY=VALUE")
    create.add_argument("--target", action="append", metavar="ID")
    create.add_argument("--id", help="choose the id (default: generated)")
    json_flag(create)
    create.set_defaults(handler=cmd_certs_create)

    archive = certs_cmds.add_parser("archive", help="archive (soft-delete) a certificate")
    archive.add_argument("id")
    json_flag(archive)
    archive.set_defaults(handler=cmd_certs_archive)

    def key_type(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--key-type", metavar="TYPE", help="ecdsa-p256 (default), ecdsa-p384, rsa2048, rsa3072, rsa4096, ed25519"
        )

    def passphrase_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--passphrase-file", metavar="FILE", help="read the passphrase from FILE")
        p.add_argument("--passphrase-env", metavar="VAR", help="read the passphrase from environment variable VAR")

    issue = certs_cmds.add_parser("issue", help="issue a registered certificate (server-side key, or --csr)")
    issue.add_argument("id")
    key_type(issue)
    issue.add_argument(
        "--ttl", type=int, metavar="SECONDS", help="lifetime (default: the issuer's, capped by the profile)"
    )
    issue.add_argument("--csr", metavar="FILE", help="sign this CSR instead: the key never reaches certctl")
    json_flag(issue)
    issue.set_defaults(handler=cmd_certs_issue)

    renew = certs_cmds.add_parser("renew", help="renew now: a new version with a new key")
    renew.add_argument("id")
    key_type(renew)
    renew.add_argument("--ttl", type=int, metavar="SECONDS")
    renew.add_argument("--csr", metavar="FILE")
    json_flag(renew)
    renew.set_defaults(handler=cmd_certs_renew)

    revoke = certs_cmds.add_parser("revoke", help="revoke the current version")
    revoke.add_argument("id")
    revoke.add_argument("--reason", default="unspecified", choices=[r.value for r in RevocationReason])
    json_flag(revoke)
    revoke.set_defaults(handler=cmd_certs_revoke)

    export = certs_cmds.add_parser("export", help="export as PEM files or PKCS#12")
    export.add_argument("id")
    export.add_argument("--format", choices=["pem", "pkcs12"], default="pem")
    export.add_argument(
        "--out", metavar="PATH", help="directory (PEM) or file (PKCS#12); PEM goes to stdout without it"
    )
    export.add_argument("--key", action="store_true", help="include the server-held private key")
    export.add_argument("--no-encrypt", action="store_true", help="with --key and PEM: write the key unencrypted")
    passphrase_flags(export)
    export.set_defaults(handler=cmd_certs_export)

    imp = certs_cmds.add_parser("import", help="bring existing certificates under management")
    imp.add_argument("paths", nargs="+", metavar="PATH", help="PEM/DER files, bundles or directories")
    imp.add_argument("--issuer", required=True, metavar="ID", help="the issuer to record them under")
    imp.add_argument("--key", metavar="FILE", help="the private key of the (single) certificate")
    imp.add_argument("--name")
    imp.add_argument("--owner", metavar="ID")
    imp.add_argument("--team", metavar="ID")
    imp.add_argument("--profile", metavar="ID")
    imp.add_argument("--environment", "--env", metavar="NAME")
    passphrase_flags(imp)
    json_flag(imp)
    imp.set_defaults(handler=cmd_certs_import)

    # ca
    ca = commands.add_parser("ca", help="the local CA of a GenericCA issuer")
    ca.set_defaults(handler=lambda a: _sub_help(ca))
    ca_cmds = ca.add_subparsers(title="CA commands", metavar="ACTION", parser_class=_Parser)
    init = ca_cmds.add_parser("init", help="create the root CA, or import a sub-CA (--cert/--key)")
    init.add_argument("--issuer", default="iss-local", metavar="ID")
    init.add_argument("--cert", metavar="FILE", help="sub-CA certificate (its chain may follow in the file)")
    init.add_argument("--key", metavar="FILE", help="sub-CA private key (PKCS#1, SEC1 or PKCS#8; may be encrypted)")
    init.add_argument("--cn", metavar="NAME", help="common name of a new root")
    key_type(init)
    passphrase_flags(init)
    json_flag(init)
    init.set_defaults(handler=cmd_ca_init)
    cashow = ca_cmds.add_parser("show", help="the CA certificate")
    cashow.add_argument("--issuer", default="iss-local", metavar="ID")
    cashow.add_argument("--pem", action="store_true", help="print the CA certificate and chain as PEM")
    json_flag(cashow)
    cashow.set_defaults(handler=cmd_ca_show)
    crl = ca_cmds.add_parser("crl", help="generate a fresh CRL")
    crl.add_argument("--issuer", default="iss-local", metavar="ID")
    crl.add_argument("--out", metavar="FILE")
    crl.add_argument("--pem", action="store_true", help="PEM instead of DER")
    crl.set_defaults(handler=cmd_ca_crl)
    check = ca_cmds.add_parser("check", help="what OCSP says about a serial")
    check.add_argument("serial", help="hexadecimal serial number")
    check.add_argument("--issuer", default="iss-local", metavar="ID")
    json_flag(check)
    check.set_defaults(handler=cmd_ca_check)

    # targets
    targets = commands.add_parser("targets", help="deployment targets")
    targets.set_defaults(handler=lambda a: _sub_help(targets))
    targets_cmds = targets.add_subparsers(title="target commands", metavar="ACTION", parser_class=_Parser)
    tlist = targets_cmds.add_parser("list", help="deployment targets, by name")
    tlist.add_argument("--agent", metavar="ID", help="only the targets of this agent")
    json_flag(tlist)
    tlist.set_defaults(handler=cmd_targets_list)
    snippet = targets_cmds.add_parser("snippet", help="the server configuration lines pointing at the deployed files")
    snippet.add_argument("id", help="target id")
    snippet.set_defaults(handler=cmd_targets_snippet)
    ttest = targets_cmds.add_parser("test", help="check a target: configuration, server config test, what it serves")
    ttest.add_argument("id", help="target id")
    json_flag(ttest)
    ttest.set_defaults(handler=cmd_targets_test)

    # audit
    audit = commands.add_parser("audit", help="the audit trail")
    audit.set_defaults(handler=lambda a: _sub_help(audit))
    audit_cmds = audit.add_subparsers(title="audit commands", metavar="ACTION", parser_class=_Parser)
    alist = audit_cmds.add_parser("list", help="audit events, newest first")
    alist.add_argument("--resource-type")
    alist.add_argument("--resource-id")
    alist.add_argument("--actor")
    alist.add_argument("--action")
    alist.add_argument("--since", help="ISO 8601 time")
    alist.add_argument("--until", help="ISO 8601 time")
    alist.add_argument("--limit", type=int, default=50)
    alist.add_argument("--cursor")
    json_flag(alist)
    alist.set_defaults(handler=cmd_audit_list)
    verify = audit_cmds.add_parser("verify", help="check the hash chain; names the first broken event")
    json_flag(verify)
    verify.set_defaults(handler=cmd_audit_verify)

    # mcp
    mcp = commands.add_parser(
        "mcp",
        help="serve the MCP server for AI assistants (stdio by default)",
        description="Serve every certificate operation as MCP tools, over stdio or streamable HTTP.",
    )
    # SUPPRESS keeps a top-level `certctl --read-only mcp` from being reset by this flag's default.
    mcp.add_argument(
        "--read-only",
        action="store_true",
        default=argparse.SUPPRESS,
        help="register no tool that changes anything",
    )
    mcp.add_argument(
        "--toolsets",
        metavar="LIST",
        help="comma-separated toolsets to serve (default all): certificates, pki, config, audit, stats",
    )
    mcp.add_argument(
        "--http",
        metavar="HOST:PORT",
        help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio (needs --token-env)",
    )
    mcp.add_argument("--token-env", metavar="VAR", help="environment variable holding the HTTP bearer token")
    mcp.set_defaults(handler=cmd_mcp)

    # db
    db = commands.add_parser("db", help="store maintenance")
    db.set_defaults(handler=lambda a: _sub_help(db))
    db_cmds = db.add_subparsers(title="store commands", metavar="ACTION", parser_class=_Parser)
    upgrade = db_cmds.add_parser("upgrade", help="create the store or bring its schema up to date")
    json_flag(upgrade)
    upgrade.set_defaults(handler=cmd_db_upgrade)
    from certctl_engine import cli_automation

    cli_automation.register(commands, json_flag, _Parser)
    return parser


def _sub_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.handler(args))
    except UsageError as exc:
        print(f"{exc} (try: certctl --help)", file=sys.stderr)
        return EXIT_USAGE
    except InvalidInput as exc:
        print(f"certctl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CertctlError as exc:
        print(f"certctl: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("certctl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug: still one line, with a way to see more
        if os.environ.get("CERTCTL_DEBUG"):
            raise
        print(
            f"certctl: internal error: {type(exc).__name__}: {exc} (set CERTCTL_DEBUG=1 for details)", file=sys.stderr
        )
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
