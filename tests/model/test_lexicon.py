import pytest

from pipelines.model.lexicon import is_preaching, is_self_serving, preaching_languages


@pytest.mark.parametrize(
    "text",
    [
        "Talk with your audience, don't broadcast!",
        "Stop broadcasting. Engage with your community.",
        "Social media is a conversation, not a broadcast",
        "Reply to every single comment you get",
        "Engagement is the new currency",
        "Répondez à chaque commentaire !",
        "Parlez avec votre communauté, ne diffusez pas.",
        "Les réseaux sociaux, c’est une conversation",
        "Créez une communauté engagée: engagez votre audience",
        "Responde a cada comentario",
        "Beantworte jeden Kommentar",
    ],
)
def test_sermons_preach(text):
    assert is_preaching(text)


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "engage",  # a loose word is not a sermon
        "We should engage the enemy at dawn",
        "Broadcast schedule for tonight's match",
        "I disagree with your proof of lemma 2",
        "Merci pour votre réponse détaillée",
    ],
)
def test_ordinary_text_does_not_preach(text):
    assert not is_preaching(text)


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


def test_lexicon_is_multilingual():
    assert {"en", "fr"} <= preaching_languages()
