"""The reciprocity job: events in; account windows, one-way alerts and dead letters out; a summary printed.

    python -m pipelines.reciprocity --output out/run                         # built-in simulator
    python -m pipelines.reciprocity --input events.avro --output out/replay  # replay files
    python -m pipelines.reciprocity ... --runner DirectRunner --direct_num_workers 2

Writes DIR/alerts.jsonl, DIR/account_windows.jsonl, DIR/dead_letter.jsonl and DIR/summary.json (plus
DIR/ground_truth.jsonl when the simulator is the source, so the summary can score the alerts).
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines.cli import flink
from pipelines.cli import options as cli_options
from pipelines.cli.options import KafkaOptions
from pipelines.cli.summary import render, summarize
from pipelines.io.files import NAMESPACE, ReadEventFiles, expand_inputs
from pipelines.io.jsonlines import WriteJsonLines, account_window_lines
from pipelines.io.kafka.admin import check_kafka
from pipelines.io.simulated import SimulatedEvents
from pipelines.model.config import ReciprocityConfig
from pipelines.model.events import iso_utc
from pipelines.model.resume import Resume
from pipelines.simulator import SimulationConfig, build_network
from pipelines.transforms.events import CountEventsFn
from pipelines.transforms.reciprocity import ALERTS, LATE, WINDOWS, ComputeReciprocity

OUTPUT_FILES = {WINDOWS: "account_windows.jsonl", ALERTS: "alerts.jsonl", "dead_letter": "dead_letter.jsonl"}


def build(pipeline: beam.Pipeline, source: beam.PTransform, config: ReciprocityConfig, output: Path) -> None:
    """The batch (replay) graph: source -> count -> reciprocity -> JSON Lines files."""
    read = pipeline | "Source" >> source
    events, dead = (read["events"], read["dead_letter"]) if isinstance(read, dict) else (read, None)
    events = events | "CountEvents" >> beam.ParDo(CountEventsFn())
    results = events | "Reciprocity" >> ComputeReciprocity(config, streaming=False, batch_windows=True)
    windows_file = str(output / OUTPUT_FILES[WINDOWS])
    results[WINDOWS] | "WriteWindows" >> WriteJsonLines(windows_file, encode=account_window_lines)
    results[ALERTS] | "WriteAlerts" >> WriteJsonLines(str(output / OUTPUT_FILES[ALERTS]))
    dead_letters = [results[LATE]] + ([dead] if dead is not None else [])
    (
        dead_letters
        | "AllDeadLetters" >> beam.Flatten()
        | "WriteDeadLetters" >> WriteJsonLines(str(output / OUTPUT_FILES["dead_letter"]))
    )


def build_streaming(
    pipeline: beam.Pipeline, kafka: KafkaOptions, config: ReciprocityConfig, resume: Resume | None = None
) -> None:
    """The streaming graph: Kafka events -> count -> reciprocity (stateful, watermark-driven) -> Kafka topics,
    and (`--commit_offsets tail`) the offset commits once the sinks have published what needs them."""
    from pipelines.io.kafka import CommitReadTail, ReadSocialEventsFromKafka, WriteDeadLettersToKafka, WriteToKafka

    read = pipeline | "Source" >> ReadSocialEventsFromKafka(
        kafka.client,
        kafka.events_topic,
        kafka.group_id,
        until_end_offsets=kafka.until_end_offsets,
        json_ok=kafka.json_messages,
        batch_events=True,
        commit_offsets=kafka.commit_offsets,
    )
    batches = read["events"] | "CountEvents" >> beam.ParDo(CountEventsFn())
    results = batches | "Reciprocity" >> ComputeReciprocity(
        config, streaming=True, state_shards=kafka.state_shards, resume=resume
    )
    windows = results[WINDOWS] | "WriteWindows" >> WriteToKafka(kafka.client, kafka.windows_topic, "AccountWindow")
    alerts = results[ALERTS] | "WriteAlerts" >> WriteToKafka(kafka.client, kafka.alerts_topic, "EngagementAlert")
    if "offsets" in read:
        (
            (read["offsets"], windows, alerts)
            | "ReadAndPublished" >> beam.Flatten()
            | "CommitOffsets" >> CommitReadTail(kafka.client, kafka.group_id, config, resume)
        )
    (
        [read["dead_letter"], results[LATE]]
        | "AllDeadLetters" >> beam.Flatten()
        | "WriteDeadLetters" >> WriteDeadLettersToKafka(kafka.client, kafka.dead_letter_topic)
    )


def remove_outputs(output: Path) -> None:
    """Removes the job's outputs and whatever a failed write leaves (Beam's temporary directories, part files,
    files still being assembled): before a run, and after a failed one, so no file looks complete that is not."""
    names = [*OUTPUT_FILES.values(), "summary.json"]
    for path in [*(output / name for name in names), *output.glob("*.part*"), *output.glob("*.incomplete")]:
        if path.is_dir():  # Beam's temporary directories are named beam-temp-<file>.part-<id>
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def resume_point(kafka: KafkaOptions) -> Resume | None:
    """With tail commits, where an earlier run of the group stopped (said in one line), else None."""
    from pipelines.io.kafka import read_resume_point

    if kafka.commit_offsets != "tail":
        return None
    try:
        resume = read_resume_point(kafka.client, kafka.events_topic, kafka.group_id, kafka.alerts_topic)
    except Exception as error:  # kafka-python's errors, a timeout: one line, as every start-time check
        raise ValueError(f"reading where group {kafka.group_id} stopped failed: {error}") from None
    if resume is not None:
        print(
            f"resuming group {kafka.group_id}: windows ending before {iso_utc(resume.published_before_ms)} were "
            f"published by an earlier run; {len(resume.firing)} account(s) firing then",
            file=sys.stderr,
        )
    return resume


def kafka_topics(kafka: KafkaOptions) -> list[str]:
    return [kafka.events_topic, kafka.windows_topic, kafka.alerts_topic, kafka.dead_letter_topic]


def job_counters(result: Any) -> dict[str, int] | None:
    """The job's Beam counters by name, summed over steps; None when the runner reports no metrics."""
    try:
        found = result.metrics().query(beam.metrics.MetricsFilter().with_namespace(NAMESPACE))["counters"]
    except (NotImplementedError, AttributeError, KeyError):
        return None
    counters: dict[str, int] = {}
    for counter in found:
        value = counter.committed if counter.committed is not None else counter.attempted
        counters[counter.key.metric.name] = counters.get(counter.key.metric.name, 0) + (value or 0)
    return counters


def run(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    try:
        job, config, beam_args = cli_options.parse(argv)
        cli_options.check_output(job.output)
        if job.input:
            expand_inputs(job.input)  # fail now, with one line, rather than inside the runner
        resume = None
        if job.kafka is not None:  # the same: an unreachable broker, a refused password, a missing topic
            check_kafka(job.kafka.client, kafka_topics(job.kafka))
            resume = resume_point(job.kafka)
    except ValueError as error:
        cli_options.fail(str(error))
    submission = None
    if flink.is_flink(beam_args):
        try:
            submission = flink.prepare(
                beam_args,
                streaming=job.kafka is not None,
                until_end=job.kafka is not None and job.kafka.until_end_offsets,
            )
        except ValueError as error:
            cli_options.fail(str(error))
        beam_args = submission.beam_args
        for choice in submission.chosen:
            print(f"flink: {choice}", file=sys.stderr)
    options = PipelineOptions(beam_args)
    if job.kafka is not None:
        options.view_as(StandardOptions).streaming = True
        # A streaming job needs Prism: say which runner the DirectRunner picked (it falls back quietly).
        logging.getLogger("apache_beam.runners.direct.direct_runner").setLevel(logging.INFO)
    remove_outputs(job.output)  # a failed run must not leave an earlier run's files looking like its own
    pipeline = beam.Pipeline(options=options)
    if job.kafka is not None:
        build_streaming(pipeline, job.kafka, config, resume)
    elif job.input:
        build(pipeline, ReadEventFiles(job.input), config, job.output)
    else:
        network = build_network(SimulationConfig.for_events(job.sim_events, seed=job.sim_seed, days=job.sim_days))
        with (job.output / "ground_truth.jsonl").open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in network.ground_truth())
        build(pipeline, SimulatedEvents(network), config, job.output)
    try:
        result = pipeline.run()
        if submission is not None and submission.drain_at_end:
            state = flink.finish_when_drained(submission)
            print(
                f"flink: job {submission.job_name} {state} (stopped with a drained savepoint once its data was done)",
                file=sys.stderr,
            )
        result.wait_until_finish()
    except Exception as error:  # a worker's error (a full disk, a broker gone for good): one line, no partial files
        remove_outputs(job.output)
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"error: the job failed: {first}", file=sys.stderr)
        raise SystemExit(1) from None

    summary = summarize(job.output, job_counters(result), top=job.summary_top)
    (job.output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(render(summary))
    return summary


def main() -> None:
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    # A failing DoFn is logged here with its traceback, and raised again: run() reports it in one line.
    logging.getLogger("apache_beam.runners.common").setLevel(logging.CRITICAL)
    run()
