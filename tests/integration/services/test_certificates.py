"""The inventory: create, update, archive, filtered and sorted keyset pages, versions."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from certctl_engine.domain import (
    Actor,
    Certificate,
    CertificateFilter,
    CertificateSortField,
    CertificateStatus,
    SortOrder,
)
from certctl_engine.engine import Engine
from certctl_engine.errors import Conflict, InvalidInput, NotFound
from certctl_engine.pki import build_leaf, build_self_signed_ca, certificate_to_pem, generate_private_key
from certctl_engine.store.models import CertificateModel


@pytest.fixture
def inventory(engine: Engine, actor: Actor) -> Engine:
    engine.ownership.create_team("Platform", actor=actor, id="t-platform")
    engine.ownership.create_team("Payments", actor=actor, id="t-payments")
    engine.ownership.create_owner("Alice", "alice@example.com", "t-platform", actor=actor, id="o-alice")
    engine.ownership.create_owner("Carol", "carol@example.com", "t-payments", actor=actor, id="o-carol")
    engine.issuers.create("Local", "GenericCA", actor=actor, id="iss-local")
    engine.issuers.create("ACME", "ACME", {"directory_url": "https://acme.test/dir"}, actor=actor, id="iss-acme")
    return engine


def _set_expiry(cert_id: str, when: datetime, status: CertificateStatus = CertificateStatus.ACTIVE) -> None:
    CertificateModel.update(expires_at=when, status=status.value).where(CertificateModel.id == cert_id).execute()


def _walk(
    engine: Engine, flt: CertificateFilter, sort: CertificateSortField, order: SortOrder, limit: int
) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = engine.certificates.list(flt, sort=sort, order=order, limit=limit, cursor=cursor)
        assert len(page.items) <= limit
        ids.extend(c.id for c in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return ids


def test_create_get_and_defaults(inventory: Engine, actor: Actor) -> None:
    cert = inventory.certificates.create(
        name="api",
        common_name="api.example.com",
        sans=["API.example.com", "www.example.com", " "],
        issuer_id="iss-local",
        owner_id="o-alice",
        tags={"tier": "1"},
        actor=actor,
    )
    assert cert.status is CertificateStatus.PENDING
    assert cert.expires_at is None
    assert cert.team_id == "t-platform"  # taken from the owner
    assert cert.renewal_policy_id == "rp-default"
    assert cert.sans == ("api.example.com", "www.example.com")
    assert inventory.certificates.get(cert.id) == cert
    assert inventory.audit.list(resource_id=cert.id).items[0].action == "certificate_created"


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"issuer_id": "iss-nope"}, NotFound, "no issuer 'iss-nope'"),
        ({"owner_id": "o-nope"}, NotFound, "no owner 'o-nope'"),
        ({"target_ids": ["tgt-nope"]}, NotFound, "no target 'tgt-nope'"),
        ({"common_name": ""}, InvalidInput, "common_name is required"),
        ({"common_name": "x" * 254}, InvalidInput, "longer than 253"),
        ({"sans": ["bad name"]}, InvalidInput, "bad name"),
        ({"tags": {"k": 5}}, InvalidInput, "tag 'k'"),
        ({"status": "Bogus"}, InvalidInput, "unknown status 'Bogus'"),
    ],
)
def test_bad_input_is_refused_without_a_trace(
    inventory: Engine, actor: Actor, kwargs: dict, error: type, words: str
) -> None:
    before = inventory.audit.latest_sequence()
    values = {"name": "x", "common_name": "x.example.com", "issuer_id": "iss-local", **kwargs}
    with pytest.raises(error) as info:
        inventory.certificates.create(actor=actor, **values)
    assert words in str(info.value)
    assert inventory.certificates.count() == 0
    assert inventory.audit.latest_sequence() == before


def test_names_are_unique(inventory: Engine, actor: Actor) -> None:
    inventory.certificates.create(name="api", common_name="a.example.com", issuer_id="iss-local", actor=actor)
    with pytest.raises(Conflict, match="'api' already exists"):
        inventory.certificates.create(name="api", common_name="b.example.com", issuer_id="iss-local", actor=actor)


def test_update_and_archive(inventory: Engine, actor: Actor) -> None:
    cert = inventory.certificates.create(name="api", common_name="a.example.com", issuer_id="iss-local", actor=actor)
    updated = inventory.certificates.update(
        cert.id, owner_id="o-carol", team_id="t-payments", name="api-v2", actor=actor
    )
    assert (updated.owner_id, updated.team_id, updated.name) == ("o-carol", "t-payments", "api-v2")
    assert [c.id for c in inventory.certificates.list(CertificateFilter(query="api-v2")).items] == [cert.id]
    cleared = inventory.certificates.update(cert.id, owner_id=None, actor=actor)
    assert cleared.owner_id is None and cleared.team_id == "t-payments"
    archived = inventory.certificates.archive(cert.id, actor=actor)
    assert archived.status is CertificateStatus.ARCHIVED
    assert inventory.certificates.count() == 0
    assert inventory.certificates.count(CertificateFilter(include_archived=True)) == 1
    with pytest.raises(Conflict, match="already archived"):
        inventory.certificates.archive(cert.id, actor=actor)
    with pytest.raises(Conflict, match="read-only"):
        inventory.certificates.update(cert.id, name="again", actor=actor)
    actions = [e.action for e in inventory.audit.list(resource_id=cert.id).items]
    assert actions == ["certificate_archived", "certificate_updated", "certificate_updated", "certificate_created"]


def test_filters(inventory: Engine, actor: Actor) -> None:
    now = inventory.now()
    specs = [
        ("a", "api.example.com", ["api.internal.example.com"], "iss-local", "o-alice", 5, CertificateStatus.EXPIRING),
        ("b", "www.example.com", [], "iss-local", "o-carol", 45, CertificateStatus.ACTIVE),
        ("c", "pay.example.com", ["checkout.example.com"], "iss-acme", "o-carol", -2, CertificateStatus.EXPIRED),
        ("d", "old.example.com", [], "iss-acme", "o-alice", 20, CertificateStatus.REVOKED),
    ]
    for name, cn, sans, issuer, owner, days, status in specs:
        inventory.certificates.create(
            name=name, common_name=cn, sans=sans, issuer_id=issuer, owner_id=owner, actor=actor, id=f"mc-{name}"
        )
        _set_expiry(f"mc-{name}", now + timedelta(days=days), status)

    def ids(**kwargs: object) -> list[str]:
        page = inventory.certificates.list(CertificateFilter(**kwargs), limit=50)  # type: ignore[arg-type]
        return sorted(c.id for c in page.items)

    assert ids(statuses=(CertificateStatus.EXPIRING, CertificateStatus.EXPIRED)) == ["mc-a", "mc-c"]
    assert ids(issuer_id="iss-acme") == ["mc-c", "mc-d"]
    assert ids(owner_id="o-carol") == ["mc-b", "mc-c"]
    assert ids(team_id="t-platform") == ["mc-a", "mc-d"]
    assert ids(expiring_within_days=30) == ["mc-a", "mc-d"]
    assert ids(query="CHECKOUT") == ["mc-c"]
    assert ids(query="internal") == ["mc-a"]
    assert ids(query="%") == []  # LIKE wildcards are matched literally
    assert ids(query="example.com", owner_id="o-alice", expiring_within_days=10) == ["mc-a"]
    with pytest.raises(InvalidInput, match="expiring_within_days"):
        ids(expiring_within_days=-1)
    # A range: more than 10 and at most 30 days left (mc-a has 5 days, mc-d 20).
    assert ids(expiring_after_days=10, expiring_within_days=30) == ["mc-d"]
    assert ids(expiring_after_days=4, expiring_within_days=30) == ["mc-a", "mc-d"]
    with pytest.raises(InvalidInput, match="expiring_after_days"):
        ids(expiring_after_days=-3, expiring_within_days=30)


def test_a_leading_bang_inverts_the_text_filter(inventory: Engine, actor: Actor) -> None:
    for name, cn, sans in (
        ("api", "api.example.com", ["api.internal.example.com"]),
        ("www", "www.example.com", []),
        ("pay", "pay.example.org", ["checkout.example.org"]),
    ):
        inventory.certificates.create(
            name=name, common_name=cn, sans=sans, issuer_id="iss-local", actor=actor, id=f"mc-{name}"
        )

    def ids(query: str, **kwargs: object) -> list[str]:
        flt = CertificateFilter(query=query, **kwargs)  # type: ignore[arg-type]
        return sorted(c.id for c in inventory.certificates.list(flt, limit=50).items)

    assert ids("example.com") == ["mc-api", "mc-www"]
    assert ids("!example.com") == ["mc-pay"]
    assert ids("! CHECKOUT") == ["mc-api", "mc-www"]  # case and spaces after the "!" do not matter
    assert ids("!internal") == ["mc-pay", "mc-www"]  # SANs count for the inverted filter too
    assert ids("!") == ["mc-api", "mc-pay", "mc-www"]  # nothing to invert yet: no filter
    assert ids("!%") == ["mc-api", "mc-pay", "mc-www"]  # wildcards are still literal
    assert ids("!example.com", issuer_id="iss-acme") == []  # combined with the other filters
    assert inventory.certificates.count(CertificateFilter(query="!example.org")) == 2
    with pytest.raises(InvalidInput, match="255"):
        ids("!" + "x" * 256)


@pytest.mark.parametrize("sort", [f for f in CertificateSortField if f.value not in ("issuer", "owner")])
@pytest.mark.parametrize("order", list(SortOrder))
def test_keyset_pages_visit_every_row_once_in_order(
    inventory: Engine, actor: Actor, sort: CertificateSortField, order: SortOrder
) -> None:
    rng = random.Random(7)
    now = inventory.now()
    for index in range(23):
        cert = inventory.certificates.create(
            name=f"cert-{rng.randrange(1000):03d}-{index}",
            common_name=f"h{rng.randrange(5)}.example.com",
            issuer_id="iss-local",
            actor=actor,
        )
        if index % 4:  # leave some not issued, with ties on expiry
            _set_expiry(cert.id, now + timedelta(days=rng.randrange(3)), rng.choice(list(CertificateStatus)[:6]))
    expected = inventory.certificates.list(CertificateFilter(include_archived=True), sort=sort, order=order, limit=500)
    walked = _walk(inventory, CertificateFilter(include_archived=True), sort, order, limit=4)
    assert walked == [c.id for c in expected.items]
    assert len(set(walked)) == 23
    keys = [getattr(c, sort.value) or datetime.max.replace(tzinfo=UTC) for c in expected.items]
    keys = [k.value if hasattr(k, "value") else k for k in keys]
    assert keys == sorted(keys, reverse=order is SortOrder.DESC)


@pytest.fixture
def by_reference(inventory: Engine, actor: Actor) -> Engine:
    """Names that sort differently from the ids, case differences, no owner, ties on expiry, not issued."""
    inventory.issuers.create("aardvark CA", "GenericCA", actor=actor, id="iss-zz")
    inventory.ownership.create_owner("Zed", "zed@example.com", "t-platform", actor=actor, id="o-aaa")
    inventory.ownership.create_owner("bob", "bob@example.com", "t-platform", actor=actor, id="o-bob")
    rng = random.Random(11)
    now = inventory.now()
    issuers = ["iss-local", "iss-acme", "iss-zz"]
    owners = [None, "o-alice", "o-carol", "o-aaa", "o-bob"]
    for index in range(29):
        cert = inventory.certificates.create(
            name=f"ref-{index:02d}",
            common_name=f"r{index}.example.com",
            issuer_id=rng.choice(issuers),
            owner_id=rng.choice(owners),
            actor=actor,
        )
        if index % 5:  # some not issued; expiry days from a small range so ties happen
            _set_expiry(cert.id, now + timedelta(days=rng.randrange(4)), rng.choice(list(CertificateStatus)[:4]))
    return inventory


def _reference_order(engine: Engine, sort: str, order: SortOrder, flt: CertificateFilter) -> list[str]:
    """The expected order, computed here from names: folded name, name, id; no owner last; expiry; id."""
    names = {i.id: i.name for i in engine.issuers.list()} | {o.id: o.name for o in engine.ownership.list_owners()}
    never = datetime.max.replace(tzinfo=UTC)

    def key(cert: Certificate) -> tuple[object, ...]:
        ref = cert.issuer_id if sort == "issuer" else cert.owner_id
        group = (True, "", "", "") if ref is None else (False, names[ref].casefold(), names[ref], ref)
        return (group, cert.expires_at or never, cert.id)

    everything = engine.certificates.list(flt, limit=500).items
    return [c.id for c in sorted(everything, key=key, reverse=order is SortOrder.DESC)]


@pytest.mark.parametrize("sort", ["issuer", "owner"])
@pytest.mark.parametrize("order", list(SortOrder))
def test_sorts_by_issuer_and_owner_name_page_every_row_once(by_reference: Engine, sort: str, order: SortOrder) -> None:
    for flt in (CertificateFilter(), CertificateFilter(statuses=(CertificateStatus.ACTIVE, CertificateStatus.PENDING))):
        expected = _reference_order(by_reference, sort, order, flt)
        assert len(expected) > 3
        for limit in (1, 4, 500):
            walked = _walk(by_reference, flt, sort, order, limit=limit)  # type: ignore[arg-type]
            assert walked == expected
    first = by_reference.certificates.list(sort=sort, order=order, limit=1).items[0]
    if sort == "owner":  # no owner: after every owner, first when descending
        assert (first.owner_id is None) is (order is SortOrder.DESC)
    else:  # "aardvark CA" (iss-zz) sorts first by name, last by id
        assert (first.issuer_id == "iss-zz") is (order is SortOrder.ASC)


def test_reference_sort_cursors_are_checked(by_reference: Engine) -> None:
    page = by_reference.certificates.list(sort="owner", limit=2)
    assert page.next_cursor
    with pytest.raises(InvalidInput, match="different sort"):
        by_reference.certificates.list(sort="issuer", limit=2, cursor=page.next_cursor)
    with pytest.raises(InvalidInput, match="different sort"):
        by_reference.certificates.list(sort="owner", order="desc", limit=2, cursor=page.next_cursor)
    with pytest.raises(InvalidInput, match="different sort"):  # a plain sort's cursor is not a reference cursor
        by_reference.certificates.list(
            sort="owner", limit=2, cursor=by_reference.certificates.list(limit=1).next_cursor
        )
    with pytest.raises(InvalidInput, match="issuer, owner"):
        by_reference.certificates.list(sort="team")
    assert by_reference.certificates.list(sort="owner", limit=2, with_total=True).total == 29


def test_a_reference_sort_survives_its_group_disappearing(by_reference: Engine, actor: Actor) -> None:
    """The owner of the page's last row is deleted between pages: the walk goes on with the next owner."""
    expected = _reference_order(by_reference, "owner", SortOrder.ASC, CertificateFilter())
    page = by_reference.certificates.list(sort="owner", limit=1)
    first = page.items[0]
    assert first.owner_id is not None
    moved = [c.id for c in by_reference.certificates.list(CertificateFilter(owner_id=first.owner_id), limit=500).items]
    for cert_id in moved:
        by_reference.certificates.update(cert_id, owner_id=None, actor=actor)
    by_reference.ownership.delete_owner(first.owner_id, actor=actor)
    rest = [c.id for c in by_reference.certificates.list(sort="owner", limit=500, cursor=page.next_cursor).items]
    # Everything once; the moved certificates (the first row too: its place moved behind the cursor) come
    # in the no-owner group, last.
    assert sorted(rest) == sorted(expected)
    no_owner = [c.id for c in by_reference.certificates.list(sort="owner", limit=500).items if c.owner_id is None]
    assert rest[-len(no_owner) :] == no_owner
    assert set(moved) <= set(no_owner)


def test_cursor_misuse_is_refused(inventory: Engine, actor: Actor) -> None:
    for index in range(3):
        inventory.certificates.create(name=f"c{index}", common_name="x.example.com", issuer_id="iss-local", actor=actor)
    page = inventory.certificates.list(limit=1)
    assert page.next_cursor
    with pytest.raises(InvalidInput, match="different sort"):
        inventory.certificates.list(limit=1, cursor=page.next_cursor, sort="name")
    with pytest.raises(InvalidInput, match="invalid cursor"):
        inventory.certificates.list(cursor="not-a-cursor")
    with pytest.raises(InvalidInput, match="limit"):
        inventory.certificates.list(limit=0)
    with pytest.raises(InvalidInput, match="unknown sort field"):
        inventory.certificates.list(sort="fingerprint")


def test_total_is_counted_on_request(inventory: Engine, actor: Actor) -> None:
    for index in range(3):
        inventory.certificates.create(name=f"c{index}", common_name="x.example.com", issuer_id="iss-local", actor=actor)
    assert inventory.certificates.list(limit=1).total is None
    assert inventory.certificates.list(limit=1, with_total=True).total == 3


def test_versions_become_current_and_keep_history(inventory: Engine, actor: Actor) -> None:
    now = datetime.now(UTC)
    ca_key = generate_private_key()
    ca = build_self_signed_ca(
        ca_key, "Test CA", not_before=now - timedelta(days=1), not_after=now + timedelta(days=900)
    )
    cert = inventory.certificates.create(name="api", common_name="api.example.com", issuer_id="iss-local", actor=actor)
    pems = []
    for days in (30, 90):
        key = generate_private_key()
        leaf = build_leaf(
            issuer_cert=ca,
            issuer_key=ca_key,
            public_key=key.public_key(),
            common_name="api.example.com",
            sans=[],
            not_before=now - timedelta(hours=1),
            not_after=now + timedelta(days=days),
        )
        pems.append(certificate_to_pem(leaf) + certificate_to_pem(ca))
        from certctl_engine.pki.keys import private_key_to_pem

        version = inventory.certificates.add_version(
            cert.id, pems[-1], private_key_pem=private_key_to_pem(key), actor=actor
        )
    current = inventory.certificates.get(cert.id)
    assert current.current_version_id == version.id
    assert current.status is CertificateStatus.ACTIVE
    assert current.expires_at is not None and abs((current.expires_at - (now + timedelta(days=90))).total_seconds()) < 2
    history = inventory.certificates.list_versions(cert.id)
    assert history[0].id == version.id and len(history) == 2
    assert history[0].has_private_key
    assert b"PRIVATE KEY" in (inventory.certificates.private_key_pem(version.id) or b"")
    with pytest.raises(Conflict, match="already stored"):
        inventory.certificates.add_version(cert.id, pems[-1], actor=actor)
    with pytest.raises(InvalidInput):
        inventory.certificates.add_version(cert.id, "not a pem", actor=actor)
    assert len(inventory.certificates.list_versions(cert.id)) == 2


def test_the_text_filter_also_matches_owner_team_and_issuer_names(inventory: Engine, actor: Actor) -> None:
    made = {
        "pay": inventory.certificates.create(
            name="pay", common_name="pay.example.com", issuer_id="iss-acme", owner_id="o-carol", actor=actor
        ).id,
        "wiki": inventory.certificates.create(
            name="wiki", common_name="wiki.example.com", issuer_id="iss-local", owner_id="o-alice", actor=actor
        ).id,
        "loose": inventory.certificates.create(
            name="loose", common_name="loose.example.com", issuer_id="iss-local", actor=actor
        ).id,
    }

    def ids(query: str) -> set[str]:
        return {c.id for c in inventory.certificates.list(CertificateFilter(query=query), limit=50).items}

    assert ids("carol") == {made["pay"]}  # the owner's name
    assert ids("PAYMENTS") == {made["pay"]}  # the owner's team, any case
    assert ids("platform") == {made["wiki"]}
    assert ids("acme") == {made["pay"]}  # the issuer's name
    assert ids("local") == {made["wiki"], made["loose"]}
    assert ids("wiki") == {made["wiki"]}  # names, CNs and SANs as before
    # Inverted: everything else, certificates without an owner or team included.
    assert ids("!carol") == {made["wiki"], made["loose"]}
    assert ids("!platform") == {made["pay"], made["loose"]}
    assert inventory.certificates.count(CertificateFilter(query="payments")) == 1
