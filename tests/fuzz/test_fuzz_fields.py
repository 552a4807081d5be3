"""Certificate fields from anywhere: a create either stores exactly what it was given, or says which field is wrong.

Random names, common names, SANs, environments and tags (any Unicode, lone surrogates and
NUL included) go to ``certificates.create`` on SQLite and on PostgreSQL. Each call either
stores a certificate that reads back with the same (trimmed, normalised) values, or raises
``InvalidInput`` naming the field, or ``Conflict``; a refused call stores nothing.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from certctl_engine.domain import Actor
from certctl_engine.engine import Engine
from certctl_engine.errors import Conflict, InvalidInput
from certctl_engine.services.certificates import normalize_sans
from certctl_engine.store.models import CertificateModel

FUZZER = Actor("fuzzer")
FIELDS = {"name", "common_name", "sans", "environment", "tags", "tag name"}
_unique = itertools.count()

# Any code point, surrogates included: JSON from an MCP client or the agent API can carry them.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=80)
plausible = st.from_regex(r"[a-z0-9][a-z0-9.-]{0,30}", fullmatch=True)
text = st.one_of(any_text, plausible, st.text(max_size=300), st.just(""), st.just(" "))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=text,
    common_name=text,
    sans=st.lists(text, max_size=6),
    environment=text,
    tags=st.dictionaries(text, text, max_size=4),
    suffix=st.booleans(),
)
@example(name="a", common_name="a.example.com", sans=[], environment="", tags={"k": "\x00"}, suffix=True)
@example(name="\ud800", common_name="x", sans=[], environment="", tags={}, suffix=False)
@example(name="x", common_name="x", sans=["\udcff.example.com"], environment="", tags={}, suffix=True)
def test_create_stores_what_it_was_given_or_names_the_field(
    fuzz_engine_any: Engine,
    name: str,
    common_name: str,
    sans: list[str],
    environment: str,
    tags: dict[str, str],
    suffix: bool,
) -> None:
    engine = fuzz_engine_any
    if suffix and name.strip():
        name = f"{name}-{next(_unique)}"  # mostly fresh names, sometimes repeats (a Conflict)
    before = CertificateModel.select().count()
    try:
        cert = engine.certificates.create(
            name=name,
            common_name=common_name,
            sans=sans,
            environment=environment,
            tags=tags,
            issuer_id="iss-local",
            actor=FUZZER,
        )
    except InvalidInput as exc:
        assert exc.field in FIELDS, f"InvalidInput names no field: {exc.message!r} ({exc.field!r})"
        assert exc.message.strip()
        assert CertificateModel.select().count() == before
        return
    except Conflict as exc:
        assert "already exists" in exc.message
        assert CertificateModel.select().count() == before
        return
    stored = engine.certificates.get(cert.id)
    assert stored == cert
    assert stored.name == name.strip()
    assert stored.common_name == common_name.strip()
    assert stored.sans == tuple(sorted(normalize_sans(sans)))  # a set of names, read back sorted
    assert stored.environment == environment.strip()
    assert stored.tags == tags
