import pytest

from pipelines.model.lexicon import is_self_serving


@pytest.mark.parametrize(
    "text",
    [
        "Thanks!",
        "thank you so much 🙏",
        "@ana merci beaucoup",
        "🙏🙏",
        "Grab my new book https://x.io/b",
        "Inscrivez-vous au webinaire",
        "Use code GURU for 20% off",
        "link in bio",
    ],
)
def test_self_serving_replies(text):
    assert is_self_serving(text)


@pytest.mark.parametrize(
    "text",
    [None, "Thanks, but your second step divides by zero", "Good question: it depends on the base field"],
)
def test_real_answers_are_not_self_serving(text):
    assert not is_self_serving(text)
