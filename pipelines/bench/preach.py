"""The preaching classifier's cost per text: what routing pays for each distinct post or bio.

    python -m pipelines.bench.preach [--rounds 20]

Scores every corpus text (posts, replies and bios, six languages, every split) as routing does: the function
behind `preach_classifier.verdict` (the shipped model's fast path: concepts, shapes and stem terms summed
into a probability, plus the expert flag), bypassing only its per-text cache (repeated texts cost a dictionary
lookup there), with the per-token stem cache warm as it is in a running job. Reports the fastest round's average
(noise only ever adds time) and the first, cold round (every token stemmed in six languages), as a JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

from pipelines.model.preach_classifier import verdict
from pipelines.model.preach_corpus import load
from pipelines.model.preach_features import clear_token_cache


def cost_per_text(texts: list[str], rounds: int) -> tuple[float, float]:
    """(cold first round, fastest warm round) in microseconds per text, CPU time of this process."""
    classify = verdict.__wrapped__  # what routing pays for a text it has not seen yet
    clear_token_cache()
    started = time.process_time()
    for text in texts:
        classify(text)
    cold = (time.process_time() - started) / len(texts) * 1e6
    fastest = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for text in texts:
            classify(text)
        fastest = min(fastest, (time.process_time() - started) / len(texts) * 1e6)
    return cold, fastest


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.bench.preach")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    texts = [example.text for example in load()]
    cold, warm = cost_per_text(texts, max(1, args.rounds))
    print(json.dumps({"texts": len(texts), "us_per_text": round(warm, 2), "cold_us_per_text": round(cold, 1)}))


if __name__ == "__main__":
    main()
