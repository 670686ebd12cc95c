"""Rebuilds the preaching classifier's weights from the corpus and prints its evaluation.

Run: `make train-preach` (= `python -m pipelines.cli.train_preach`). Fits on the corpus' tuning parts (every
part but `test`), writes pipelines/lexicons/preach_model.json (or --output), and prints
leave-one-author-out (each author's part scored by a model fit without it; the parts nobody read are the
selection criterion), the parts' out-of-fold figures (seen while tuning: optimistic), per language and per style,
then the blind `test` part's figures when its files (`<lang>-test5.jsonl`, `-test6.jsonl`) are there. `--select`
prints the leave-one-author-out grid the configuration was chosen by. `--check` writes nothing and fails when the
shipped weights differ from a fresh fit (the JSON is reproducible).
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipelines.cli.options import OptionError, OptionParser
from pipelines.model.preach_classifier import MODEL_PATH, load_model
from pipelines.model.preach_corpus import TUNING_SPLITS, load, split
from pipelines.model.preach_training import fit_and_report, select


def main(argv: list[str] | None = None) -> int:
    parser = OptionParser(prog="python -m pipelines.cli.train_preach", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=MODEL_PATH, help="where to write the weights (JSON)")
    parser.add_argument("--check", action="store_true", help="compare with the file at --output, write nothing")
    parser.add_argument(
        "--select", action="store_true", help="print the leave-one-author-out grid the configuration was chosen by"
    )
    try:
        args = parser.parse_args(argv)
    except OptionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    corpus = load()
    tuning = [example for example in corpus if example.split in TUNING_SPLITS]
    if args.select:
        print(select(tuning))
        return 0
    text, report = fit_and_report(tuning, split(corpus, "test"))
    print(report)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"error: {args.output} differs from a fresh fit: run make train-preach", file=sys.stderr)
            return 1
        load_model(args.output)
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
