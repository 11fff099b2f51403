"""The exercises' answers, recomputed by hand from their stated inputs."""
import pytest

from workbench.core.exercises import check_answer, exercise


@pytest.mark.parametrize("key, expected", [
    ("mini_monthly", 10_000_000 * (2_000 * 0.15 + 300 * 0.60) / 1e6),         # $4,800
    ("gpt4o_monthly", 10_000_000 * (2_000 * 2.50 + 300 * 10.00) / 1e6),       # $80,000
    ("cascade", 4_800 + 0.20 * 80_000),                                       # $20,800
    ("batch_share", 0.6 * 80_000 + 0.4 * 40_000),                             # $64,000
    ("prefix_cache", 10_000_000 * 1_500 * 1.25 / 1e6),                        # $18,750
    ("chat_history", (500 + 100) + (500 + 200 + 200) + (500 + 300 + 400) + (500 + 400 + 600) + (500 + 500 + 800)),
])
def test_answers(key, expected):
    assert exercise(key).answer() == pytest.approx(expected)
    assert check_answer(key, expected).ok
    assert not check_answer(key, expected * 1.05).ok


def test_unknown_exercise():
    with pytest.raises(KeyError, match="valid: mini_monthly"):
        exercise("nope")
