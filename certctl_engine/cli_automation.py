"""``certctl jobs ...``, ``certctl engine`` and ``certctl agent``: the automation half of the command line.

Kept apart from ``cli.py`` so each command group stays small; ``cli.build_parser`` calls
``register`` with its sub-parser collection.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certctl_engine.domain import JobStatus, JobType
from certctl_engine.errors import CertctlError, InvalidInput
from certctl_engine.files import write_atomic

if TYPE_CHECKING:
    from certctl_engine.engine import Engine


def _cli() -> Any:
    from certctl_engine import cli

    return cli


def _print_job(args: argparse.Namespace, job: Any, verb: str | None = None) -> None:
    cli = _cli()
    if args.json:
        cli._print_json(job)
        return
    if verb:
        print(f"{verb} job {job.id}: {job.type.value} for {job.certificate_id}, now {job.status.value}")
        return
    fields = [
        ("id", job.id),
        ("type", job.type.value),
        ("certificate", job.certificate_id),
        ("status", job.status.value),
        ("attempts", f"{job.attempts} of {job.max_attempts}"),
        ("requested by", job.requested_by),
        ("scheduled", job.scheduled_at.isoformat()),
        ("started", job.started_at.isoformat() if job.started_at else "-"),
        ("completed", job.completed_at.isoformat() if job.completed_at else "-"),
        ("target", job.target_id or "-"),
        ("agent", job.agent_id or "-"),
        ("last error", job.last_error or "-"),
    ]
    width = max(len(k) for k, _ in fields)
    for key, value in fields:
        print(f"{key.rjust(width)}  {value}")


def cmd_jobs_list(args: argparse.Namespace) -> int:
    cli = _cli()
    with cli._open_engine(args) as engine:
        page = engine.jobs.list(
            status=args.status, type=args.type, certificate_id=args.certificate, limit=args.limit, cursor=args.cursor
        )
    if args.json:
        cli._print_json({"items": page.items, "next_cursor": page.next_cursor})
        return cli.EXIT_OK
    rows = [
        [
            j.id,
            j.type.value,
            j.certificate_id,
            j.status.value,
            f"{j.attempts}/{j.max_attempts}",
            j.created_at.strftime("%Y-%m-%d %H:%M"),
            (j.last_error or "")[:60],
        ]
        for j in page.items
    ]
    print(cli._table(["ID", "TYPE", "CERTIFICATE", "STATUS", "TRIES", "CREATED (UTC)", "LAST ERROR"], rows))
    if page.next_cursor:
        print(f"\nmore: certctl jobs list --cursor {page.next_cursor}")
    return cli.EXIT_OK


def cmd_jobs_show(args: argparse.Namespace) -> int:
    cli = _cli()
    with cli._open_engine(args) as engine:
        _print_job(args, engine.jobs.get(args.id))
    return cli.EXIT_OK


def _job_action(verb: str) -> Any:
    def handler(args: argparse.Namespace) -> int:
        cli = _cli()
        actor = cli.cli_actor()
        with cli._open_engine(args) as engine:
            if verb == "approve":
                job = engine.jobs.approve(args.id, actor=actor)
            elif verb == "reject":
                job = engine.jobs.reject(args.id, args.reason or "", actor=actor)
            elif verb == "cancel":
                job = engine.jobs.cancel(args.id, actor=actor)
            else:
                job = engine.jobs.retry(args.id, actor=actor)
        _print_job(
            args, job, {"approve": "approved", "reject": "rejected", "cancel": "cancelled", "retry": "requeued"}[verb]
        )
        return cli.EXIT_OK

    return handler


def cmd_jobs_create(args: argparse.Namespace) -> int:
    cli = _cli()
    with cli._open_engine(args) as engine:
        job = engine.jobs.create(args.type, args.certificate, actor=cli.cli_actor())
    _print_job(args, job, "queued")
    return cli.EXIT_OK


def _est_client_cas(engine: Engine, directory: Path) -> Path | None:
    """The CA file TLS checks EST client certificates against, when EST takes them; else None."""
    from certctl_engine.http.app import est_setup
    from certctl_engine.http.est import client_ca_pem

    setup = est_setup(engine, os.environ)
    if setup is None or not setup[1].client_certificates:
        return None
    pem = client_ca_pem(*setup)
    if not pem:
        return None
    path = directory / "est-client-cas.pem"
    write_atomic(path, pem.encode("ascii"), mode=0o644)
    return path


def cmd_engine(args: argparse.Namespace) -> int:
    """Run the scheduler loops and the service endpoints until SIGTERM or ctrl+c."""
    import anyio
    import uvicorn

    from certctl_engine.http import build_app, tls_server
    from certctl_engine.scheduler import Scheduler

    cli = _cli()
    host = args.host or os.environ.get("CERTCTL_SERVER_HOST", "127.0.0.1")
    port_text = str(args.port or os.environ.get("CERTCTL_SERVER_PORT", "8080"))
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InvalidInput(f"port '{port_text}' is not a TCP port number", field="port")
    logging.basicConfig(
        level=os.environ.get("CERTCTL_LOG_LEVEL", "info").upper(),
        format='{"time":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","message":"%(message)s"}'
        if os.environ.get("CERTCTL_LOG_FORMAT") == "json"
        else "%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    engine = cli._open_engine(args)
    try:
        tls = _service_tls(args, engine, host)
        scheduler = Scheduler(engine)
        app = build_app(engine, scheduler)
        tls_options: dict[str, Any] = {}
        if tls is not None:
            tls_options = tls_server.tls_options(
                tls.cert_file, tls.key_file, client_ca_file=_est_client_cas(engine, tls.cert_file.parent)
            )
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=int(port_text),
                log_level="warning",
                lifespan="off",
                # Agents keep their connection 60 s between polls; closing ours later spares a TLS handshake each.
                timeout_keep_alive=75,
                **tls_options,
            )
        )
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]

        async def main() -> None:
            stop = anyio.Event()

            async def watch_signals() -> None:
                with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                    async for _ in signals:
                        stop.set()
                        server.should_exit = True
                        return

            async with anyio.create_task_group() as group:
                group.start_soon(watch_signals)
                group.start_soon(server.serve)
                scheme = "https" if tls is not None else "http"
                print(
                    f"certctl engine: {engine.location.describe()}, serving {scheme}://{host}:{port_text}", flush=True
                )
                await scheduler.run(stop)
                server.should_exit = True  # uvicorn finishes its open requests and returns

        # uvloop where it is installed (a dependency on Linux and macOS): OCSP and agents are served faster.
        anyio.run(main, backend_options={"use_uvloop": importlib.util.find_spec("uvloop") is not None})
    finally:
        engine.close()
    print("certctl engine: stopped", flush=True)
    return cli.EXIT_OK


def cmd_agent(args: argparse.Namespace) -> int:
    """Run the remote agent until SIGTERM or ctrl+c: registration, heartbeats, work, discovery."""
    import anyio

    from certctl_engine.agent.config import load_config
    from certctl_engine.agent.runner import AgentRunner

    cli = _cli()
    flags = {
        key: getattr(args, key, None)
        for key in (
            "server_url", "bootstrap_token", "name", "directory", "key_dir", "ca_file", "discovery_dirs",
            "key_type", "heartbeat_interval", "poll_interval", "discovery_interval", "max_backoff", "log_level",
        )
    }  # fmt: skip
    config = load_config(flags)
    logging.basicConfig(
        level=config.log_level,
        format='{"time":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","message":"%(message)s"}'
        if os.environ.get("CERTCTL_LOG_FORMAT") == "json"
        else "%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the agent's own
    runner = AgentRunner(config)

    refused: list[CertctlError] = []

    async def main() -> None:
        stop = anyio.Event()

        async def watch_signals() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    stop.set()
                    return

        async with anyio.create_task_group() as group:
            group.start_soon(watch_signals)
            print(f"certctl agent '{config.name}': engine {config.server_url}, keys in {config.key_dir}", flush=True)
            try:
                await runner.run(stop)
            except CertctlError as exc:  # said once, plainly, by the command line
                refused.append(exc)
            finally:
                group.cancel_scope.cancel()

    anyio.run(main)
    if refused:
        raise refused[0]
    print("certctl agent: stopped", flush=True)
    return cli.EXIT_OK


def _service_tls(args: argparse.Namespace, engine: Any, host: str) -> Any:
    """HTTPS unless turned off: the operator's certificate, or one certctl issues and renews itself."""
    from certctl_engine import service_tls

    env = os.environ
    if args.no_tls or env.get("CERTCTL_SERVER_TLS", "").lower() in {"off", "false", "0", "no"}:
        print("certctl engine: TLS is off; agents' keys and CSRs cross the network in clear text", flush=True)
        return None
    cert_file = args.tls_cert or env.get("CERTCTL_SERVER_TLS_CERT")
    key_file = args.tls_key or env.get("CERTCTL_SERVER_TLS_KEY")
    if bool(cert_file) != bool(key_file):
        raise InvalidInput("give both --tls-cert and --tls-key, or neither", field="tls")
    if cert_file and key_file:
        tls = service_tls.provided_tls(cert_file, key_file)
    else:
        extra = (env.get("CERTCTL_SERVER_TLS_SANS") or "").split(",")
        names = service_tls.service_names(host, [*extra, *(args.tls_san or [])])
        tls = service_tls.ensure_service_certificate(engine, engine.location.data_dir / "tls", names)
        print(
            f"certctl engine: TLS certificate {tls.action} ({tls.fingerprint_sha256[:16]}…); "
            f"agents trust {tls.ca_file}",
            flush=True,
        )
    return tls


def register(commands: Any, json_flag: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    jobs = commands.add_parser("jobs", help="issuance, renewal and deployment jobs")
    jobs.set_defaults(handler=lambda a: _cli()._sub_help(jobs))
    actions = jobs.add_subparsers(title="job commands", metavar="ACTION", parser_class=parser_class)
    lst = actions.add_parser("list", help="jobs, newest first")
    lst.add_argument("--status", choices=[s.value for s in JobStatus])
    lst.add_argument("--type", choices=[t.value for t in JobType])
    lst.add_argument("--certificate", metavar="ID")
    lst.add_argument("--limit", type=int, default=50)
    lst.add_argument("--cursor")
    json_flag(lst)
    lst.set_defaults(handler=cmd_jobs_list)
    show = actions.add_parser("show", help="one job, with its last error verbatim")
    show.add_argument("id")
    json_flag(show)
    show.set_defaults(handler=cmd_jobs_show)
    create = actions.add_parser("create", help="queue a job (issuance and renewal may wait for approval)")
    create.add_argument("type", choices=[t.value for t in JobType])
    create.add_argument("certificate", metavar="CERTIFICATE_ID")
    json_flag(create)
    create.set_defaults(handler=cmd_jobs_create)
    for verb, text in (
        ("approve", "approve a job waiting for approval (not your own)"),
        ("reject", "reject a job waiting for approval"),
        ("cancel", "cancel a waiting or running job"),
        ("retry", "give a failed job one more attempt"),
    ):
        sub = actions.add_parser(verb, help=text)
        sub.add_argument("id")
        if verb == "reject":
            sub.add_argument("--reason", help="why (kept on the job)")
        json_flag(sub)
        sub.set_defaults(handler=_job_action(verb))

    engine = commands.add_parser("engine", help="run the scheduler and the service endpoints (headless)")
    engine.add_argument("--host", help="listen address (default $CERTCTL_SERVER_HOST or 127.0.0.1)")
    engine.add_argument("--port", type=int, help="listen port (default $CERTCTL_SERVER_PORT or 8080)")
    engine.add_argument("--no-tls", action="store_true", help="serve plain HTTP (default: HTTPS)")
    engine.add_argument("--tls-cert", metavar="FILE", help="your own certificate chain (PEM) instead of certctl's")
    engine.add_argument("--tls-key", metavar="FILE", help="the key of --tls-cert (PEM)")
    engine.add_argument(
        "--tls-san", action="append", metavar="NAME", help="another name for certctl's service certificate"
    )
    engine.set_defaults(handler=cmd_engine)

    from certctl_engine.agent.config import environment_help

    agent = commands.add_parser(
        "agent",
        help="run the remote agent: make keys locally, deploy, verify, discover",
        description="Register with a certctl engine, heartbeat, poll for work (CSRs for keys made and kept here, "
        "deployments to local targets, then TLS verification) and scan directories for certificates. "
        "Keeps retrying with backoff while the engine is down.",
        epilog=environment_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    agent.add_argument("--server-url", metavar="URL", help="the engine, e.g. https://engine.example.com:8080")
    agent.add_argument("--bootstrap-token", metavar="TOKEN", help="the engine's registration token (first start)")
    agent.add_argument("--name", help="name to register under (default: the host name)")
    agent.add_argument("--dir", dest="directory", metavar="DIR", help="state directory (identity file agent.json)")
    agent.add_argument("--key-dir", metavar="DIR", help="where private keys are made and kept (0700, files 0600)")
    agent.add_argument("--ca-file", metavar="FILE", help="CA to trust for the engine's TLS (the engine's tls/ca.crt)")
    agent.add_argument("--discovery-dirs", metavar="DIR,DIR", help="directories to scan for certificates")
    agent.add_argument("--key-type", metavar="SPEC", help="key for new CSRs (default ecdsa-p256)")
    agent.add_argument("--heartbeat-interval", metavar="DURATION", help="e.g. 60s")
    agent.add_argument("--poll-interval", metavar="DURATION", help="e.g. 30s")
    agent.add_argument("--discovery-interval", metavar="DURATION", help="e.g. 6h")
    agent.add_argument("--max-backoff", metavar="DURATION", help="longest wait between retries (default 5m)")
    agent.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    agent.set_defaults(handler=cmd_agent)
