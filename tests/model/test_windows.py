import pytest

from pipelines.model.config import ReciprocityConfig
from pipelines.model.windows import format_duration, pane_of, parse_duration


@pytest.mark.parametrize(
    ("text", "ms"),
    [("90s", 90_000), ("15m", 900_000), ("1h", 3_600_000), ("7d", 604_800_000), (" 5m ", 300_000)],
)
def test_durations(text, ms):
    assert parse_duration(text) == ms
    assert parse_duration(format_duration(ms)) == ms


@pytest.mark.parametrize("text", ["", "1", "h", "1.5h", "-1h", "0s", "10w", "1h30m"])
def test_bad_durations_say_what_to_write(text):
    with pytest.raises(ValueError) as error:
        parse_duration(text)
    assert str(error.value) == (
        f"invalid duration {text!r} (use a positive number followed by s, m, h or d, e.g. 90s, 15m, 1h, 7d)"
    )


def test_panes_floor_before_the_epoch():
    assert pane_of(-1, 1000) == -1
    assert pane_of(0, 1000) == 0
    assert pane_of(999, 1000) == 0


def test_window_must_be_a_multiple_of_period():
    with pytest.raises(ValueError, match=r"^--window \(90m\) must be a whole multiple of --period \(1h\)$"):
        ReciprocityConfig(window_ms=5_400_000, period_ms=3_600_000)


def test_resolve_rate_below_fire_rate_is_refused():
    with pytest.raises(ValueError, match="must be at least --max_response_rate"):
        ReciprocityConfig(max_response_rate=0.3, resolve_response_rate=0.2)
