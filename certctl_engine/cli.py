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
from typing import Any, NoReturn

from certctl_engine.domain import (
    Actor,
    Certificate,
    CertificateFilter,
    CertificateSortField,
    CertificateStatus,
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
    return EXIT_OK


def cmd_certs_archive(args: argparse.Namespace) -> int:
    with _open_engine(args) as engine:
        cert = engine.certificates.archive(args.id, actor=cli_actor())
        if args.json:
            _print_json(cert)
        else:
            print(f"archived certificate {cert.id} ({cert.name})")
    return EXIT_OK


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


def cmd_no_face(args: argparse.Namespace) -> int:
    args.parser.print_help()
    return EXIT_OK


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
    parser.set_defaults(handler=cmd_no_face, parser=parser)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)

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
    lst.add_argument("--query", "-q", metavar="TEXT", help="text search over name, CN and SANs")
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

    create = certs_cmds.add_parser("create", help="register a managed certificate")
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

    # db
    db = commands.add_parser("db", help="store maintenance")
    db.set_defaults(handler=lambda a: _sub_help(db))
    db_cmds = db.add_subparsers(title="store commands", metavar="ACTION", parser_class=_Parser)
    upgrade = db_cmds.add_parser("upgrade", help="create the store or bring its schema up to date")
    json_flag(upgrade)
    upgrade.set_defaults(handler=cmd_db_upgrade)
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
