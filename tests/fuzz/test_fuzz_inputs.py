"""Paths, scan ranges and durations from anywhere: refused with InvalidInput, or accepted only when safe.

* A Files target's file names and ``path_inside``: no accepted name ever leads outside the
  target's directory (absolute names, ``..``, symlinks, NUL bytes all refused).
* Scan targets: loopback, link-local, multicast, unspecified and reserved ranges are refused
  unless ``allow_reserved`` is set; no plan covers more than the address limit; every
  accepted SNI name is one a TLS handshake can send.
* ``parse_duration``: seconds for every Go-style duration, InvalidInput for anything else.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from certctl_engine.connectors.targets.common import path_inside
from certctl_engine.connectors.targets.files import FilesConnector
from certctl_engine.domain import Actor
from certctl_engine.engine import Engine
from certctl_engine.errors import InvalidInput
from certctl_engine.scheduler import parse_duration
from certctl_engine.services.discovery import MAX_ADDRESSES, MAX_UNCONFIRMED_ADDRESSES, plan_endpoints
from certctl_engine.store.models import NetworkScanTargetModel

FUZZER = Actor("fuzzer")
SEGMENTS = st.one_of(
    st.sampled_from(["..", ".", "", "out", "link", "etc", "passwd", "~", "a\x00b", " "]),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=12),
)
names = st.one_of(
    st.lists(SEGMENTS, min_size=1, max_size=6).map("/".join),
    st.lists(SEGMENTS, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts)),
    st.text(max_size=40),
)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A target directory holding a symlink that leads out of it and one that stays inside."""
    root = tmp_path_factory.mktemp("paths")
    inside = root / "base"
    (inside / "sub").mkdir(parents=True)
    (root / "outside").mkdir()
    os.symlink(root / "outside", inside / "link")
    os.symlink(inside / "sub", inside / "here")
    return inside


def _inside(base: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(base.resolve())


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names)
@example(name="a\x00b")
@example(name="link/x")
@example(name="here/../../outside/x")
def test_path_inside_never_accepts_a_path_outside_the_directory(base: Path, name: str) -> None:
    try:
        path = path_inside(base, name, "cert_file")
    except InvalidInput as exc:
        assert exc.field == "cert_file" and exc.message.strip()
        return
    assert _inside(base, path), f"{name!r} was accepted but resolves to {path.resolve()}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    directory=st.one_of(st.just("BASE"), st.text(max_size=30), st.just("relative/dir"), st.just("/tmp/\x00x")),
    files=st.dictionaries(st.sampled_from(["cert_file", "chain_file", "key_file", "combined_file"]), names, max_size=3),
    extra=st.dictionaries(
        st.sampled_from(["format", "mode", "key_mode", "owner", "group", "post_deploy_command"]),
        st.one_of(st.text(max_size=10), st.integers(-5, 70000), st.lists(st.text(max_size=5), max_size=3), st.none()),
        max_size=3,
    ),
)
def test_files_target_config_is_refused_or_keeps_every_file_inside(
    base: Path, directory: str, files: dict[str, str], extra: dict[str, object]
) -> None:
    config: dict[str, object] = {"directory": str(base) if directory == "BASE" else directory, **files, **extra}
    try:
        FilesConnector().validate_config(config)
    except InvalidInput as exc:
        assert exc.message.strip()
        return
    root = Path(str(config["directory"]))
    for value in files.values():
        if value:
            assert _inside(root, root / value), f"{value!r} accepted outside {root}"


def _refused(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    bad = ("is_loopback", "is_link_local", "is_multicast", "is_unspecified", "is_reserved")
    return any(getattr(address, flag) for address in (network[0], network[-1]) for flag in bad)


ipv4 = st.builds(lambda a, p: f"{ipaddress.IPv4Address(a)}/{p}", st.integers(0, 2**32 - 1), st.integers(8, 32))
ipv6 = st.builds(lambda a, p: f"{ipaddress.IPv6Address(a)}/{p}", st.integers(0, 2**128 - 1), st.integers(100, 128))
special = st.sampled_from(
    [
        "127.0.0.1",
        "127.0.0.0/8",
        "169.254.169.254",
        "169.254.0.0/16",
        "224.0.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "240.0.0.0/24",
        "::1",
        "::",
        "fe80::1/120",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "10.0.0.0/8",
        "10.0.0.0/16",
        "192.168.1.0/24",
    ]
)
cidr = st.one_of(ipv4, ipv6, special, st.text(max_size=20))
hostnames = st.one_of(
    st.from_regex(r"[a-z0-9-]{0,70}(\.[a-z0-9-]{0,70}){0,3}\.?", fullmatch=True),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=30),
    st.sampled_from([".bad", "a..b", "x" * 300, "*.example.com", "ünï.example", "localhost", "a\x00b"]),
)


@settings(max_examples=500, deadline=None)
@given(
    cidrs=st.lists(cidr, min_size=0, max_size=3),
    ports=st.lists(st.integers(-1, 70000), min_size=0, max_size=3),
    sni_names=st.lists(hostnames, max_size=2),
    allow_reserved=st.booleans(),
    confirm_size=st.booleans(),
)
@example(cidrs=["127.0.0.1"], ports=[443], sni_names=[], allow_reserved=False, confirm_size=False)
@example(cidrs=["::ffff:169.254.169.254"], ports=[443], sni_names=[], allow_reserved=False, confirm_size=False)
@example(cidrs=["192.0.2.1"], ports=[443], sni_names=[".bad"], allow_reserved=False, confirm_size=False)
@example(cidrs=["192.0.2.1"], ports=[443], sni_names=["a\x00b"], allow_reserved=False, confirm_size=False)
def test_scan_plans_refuse_reserved_ranges_and_stay_bounded(
    cidrs: list[str], ports: list[int], sni_names: list[str], allow_reserved: bool, confirm_size: bool
) -> None:
    try:
        endpoints = plan_endpoints(cidrs, ports, sni_names, allow_reserved=allow_reserved, confirm_size=confirm_size)
    except InvalidInput as exc:
        assert exc.field in {"cidrs", "ports", "sni_names"} and exc.message.strip()
        return
    for name in {e.server_name for e in endpoints if e.server_name}:
        # What the probe's handshake does with the name; it must never raise for an accepted one.
        ssl.create_default_context().wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname=name)
    networks = [ipaddress.ip_network(c.strip(), strict=False) for c in cidrs]
    if not allow_reserved:
        assert not any(_refused(n) for n in networks), f"{cidrs} accepted without allow_reserved"
        assert not any(_refused(ipaddress.ip_network(e.host)) for e in endpoints)
    total = sum(n.num_addresses for n in networks)
    assert total <= (MAX_ADDRESSES if confirm_size else MAX_UNCONFIRMED_ADDRESSES)
    assert len({e.host for e in endpoints}) <= total
    assert all(0 < e.port < 65536 for e in endpoints)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(max_size=20),
    cidrs=st.lists(cidr, min_size=1, max_size=2),
    sni=st.lists(hostnames, max_size=2),
    hours=st.integers(-2, 1000),
    timeout_ms=st.integers(0, 70000),
)
def test_scan_targets_are_stored_only_when_valid(
    fuzz_engine: Engine, name: str, cidrs: list[str], sni: list[str], hours: int, timeout_ms: int
) -> None:
    before = NetworkScanTargetModel.select().count()
    try:
        target = fuzz_engine.discovery.create_target(
            name, cidrs, actor=FUZZER, sni_names=sni, scan_interval_hours=hours, timeout_ms=timeout_ms
        )
    except InvalidInput as exc:
        assert exc.message.strip()
        assert NetworkScanTargetModel.select().count() == before
        return
    assert fuzz_engine.discovery.get_target(target.id) == target
    fuzz_engine.discovery.delete_target(target.id, actor=FUZZER)


UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
durations = st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(sorted(UNITS))), min_size=1, max_size=4)


@settings(max_examples=500, deadline=None)
@given(parts=durations)
def test_parse_duration_reads_every_go_style_duration(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{n}{u}" for n, u in parts)
    assert parse_duration(text) == pytest.approx(sum(n * UNITS[u] for n, u in parts))


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(st.text(max_size=20), st.from_regex(r"[0-9.]{0,6}[a-z]{0,3}[0-9]{0,3}", fullmatch=True)))
@example(text="")
@example(text="1.2.3s")
@example(text="5d")
@example(text="-5s")
def test_parse_duration_refuses_anything_else_with_invalid_input(text: str) -> None:
    try:
        seconds = parse_duration(text, "interval")
    except InvalidInput as exc:
        assert exc.field == "interval" and text in exc.message
        return
    assert seconds >= 0
