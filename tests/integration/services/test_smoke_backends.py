from certctl_engine.domain import Actor
from certctl_engine.engine import Engine


def test_engine_opens_and_records_on_each_backend(engine: Engine, actor: Actor) -> None:
    team = engine.ownership.create_team("Platform", actor=actor)
    assert engine.ownership.get_team(team.id).name == "Platform"
    assert engine.audit.latest_sequence() == 1
    assert engine.audit.verify().ok
