import pytest

from certctl_engine.errors import InvalidInput
from certctl_engine.scheduler import loop_intervals, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("2m", 120), ("1h30m", 5400), ("500ms", 0.5)])
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "1d", "s", "1h 30m", "-5s"])
def test_bad_durations_name_the_variable(text: str) -> None:
    with pytest.raises(InvalidInput, match="CERTCTL_X"):
        parse_duration(text, "CERTCTL_X")


def test_defaults_and_overrides_with_minimums() -> None:
    assert loop_intervals({}) == {
        "renewal_check": 3600,
        "job_processor": 30,
        "short_lived_expiry": 30,
        "agent_health": 120,
        "network_scan": 21600,
        "policy_scan": 3600,
        "notifications": 60,
        "job_retry": 300,
        "crl_refresh": 3600,
    }
    tuned = loop_intervals(
        {"CERTCTL_SCHEDULER_RENEWAL_CHECK_INTERVAL": "5s", "CERTCTL_SCHEDULER_JOB_PROCESSOR_INTERVAL": "2s"}
    )
    assert tuned["renewal_check"] == 60  # the inventory's minimum of one minute
    assert tuned["job_processor"] == 2
