"""Runs a tiny Beam Python pipeline on Flink and checks its result: the end-to-end check of deploy/local/flink.sh.

    .venv/bin/python deploy/local/flink/beam_check.py cluster [--streaming]   the local cluster (flink.sh up)
    .venv/bin/python deploy/local/flink/beam_check.py local [--streaming]     Flink's embedded mini-cluster
    .venv/bin/python deploy/local/flink/beam_check.py pool                    the worker pool alone, no Flink

Batch: Create(range(1000)) | Map(2x) | CombineGlobally(sum), written to a file: expects 999000.
Streaming (--streaming): PeriodicImpulse, 10 elements one second apart, counted in one fixed window that
closes when the source stops: expects 10.
`cluster` also asks the REST API that the Flink job ended FINISHED. `pool` runs the batch pipeline on Beam's
FnApiRunner with the EXTERNAL environment, so the worker pool can be checked where the job server jar is missing.

The FlinkRunner needs Beam's Flink job server jar (deploy/local/flink-jobserver.sh puts it where Beam looks);
this script stops with a one-line message when it is not there rather than letting Beam try to download it.
"""

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms import window
from apache_beam.transforms.periodicsequence import PeriodicImpulse

REST = "http://127.0.0.1:8081"
WORKER_POOL = "127.0.0.1:50000"
FLINK_VERSION = "2.2"


def job_server_jar():
    name = f"beam-runners-flink-{FLINK_VERSION}-job-server-{beam.__version__}.jar"
    return os.path.join(os.path.expanduser("~/.apache_beam/cache/jars"), name)


class AppendToFile(beam.DoFn):
    """Streaming-safe sink for a check: one line per element, appended (workers share this machine)."""

    def __init__(self, path):
        self._path = path

    def process(self, element):
        with open(self._path, "a") as f:
            f.write(f"{element}\n")


def build(p, out, streaming):
    if streaming:
        # One 60 s window aligned to the first element, so all 10 land in it and it closes when the source stops.
        start = int(time.time())
        (
            p
            | PeriodicImpulse(start_timestamp=start, stop_timestamp=start + 10, fire_interval=1)
            | beam.Map(lambda _: 1)
            | beam.WindowInto(window.FixedWindows(60, offset=start % 60))
            | beam.CombineGlobally(sum).without_defaults()
            | beam.ParDo(AppendToFile(out))
        )
        return "10"
    (
        p
        | beam.Create(range(1000))
        | beam.Map(lambda x: x * 2)
        | beam.CombineGlobally(sum)
        | beam.ParDo(AppendToFile(out))
    )
    return "999000"


def flink_jobs():
    with urllib.request.urlopen(f"{REST}/jobs/overview", timeout=5) as r:
        return json.load(r)["jobs"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("target", choices=["cluster", "local", "pool"])
    parser.add_argument("--streaming", action="store_true")
    parser.add_argument("--flink_job_server_jar", default=None, help="else Beam's jar cache is used")
    args = parser.parse_args()

    job_name = f"beam-check-{args.target}{'-streaming' if args.streaming else ''}-{os.getpid()}"
    if args.target == "pool":
        if args.streaming:
            parser.error("pool runs the batch pipeline only (FnApiRunner ignores --streaming)")
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner
        from apache_beam.transforms import environments

        runner = FnApiRunner(default_environment=environments.ExternalEnvironment(WORKER_POOL))
        opts = []
    else:
        jar = args.flink_job_server_jar or job_server_jar()
        if not os.path.exists(jar):
            sys.exit(f"beam_check: no Flink job server jar at {jar}; run deploy/local/flink-jobserver.sh first")
        runner = "FlinkRunner"
        opts = [f"--flink_version={FLINK_VERSION}", f"--flink_job_server_jar={jar}", f"--job_name={job_name}"]
        if args.target == "cluster":
            # The job server (a local JVM) translates the pipeline and submits it to the cluster's REST API;
            # the TaskManager then asks the worker pool for Python SDK workers.
            opts += [
                "--flink_master=localhost:8081",
                "--environment_type=EXTERNAL",
                f"--environment_config={WORKER_POOL}",
            ]
        else:
            # [local]: a mini-cluster inside the job server JVM; SDK workers run in this process (LOOPBACK).
            opts += ["--flink_master=[local]", "--environment_type=LOOPBACK"]
        if args.streaming:
            opts.append("--streaming")

    with tempfile.TemporaryDirectory(prefix="beam-check-") as tmp:
        out = os.path.join(tmp, "result.txt")
        t0 = time.time()
        p = beam.Pipeline(runner=runner, options=PipelineOptions(opts))
        expected = build(p, out, args.streaming)
        state = p.run().wait_until_finish()
        wall = time.time() - t0
        got = Path(out).read_text().split() if os.path.exists(out) else []
    if got != [expected]:
        sys.exit(f"beam_check: {args.target}: pipeline ended {state} but wrote {got}, expected [{expected!r}]")

    detail = ""
    if args.target == "cluster":
        jobs = [j for j in flink_jobs() if j["name"] == job_name]
        if not jobs or jobs[0]["state"] != "FINISHED":
            sys.exit(f"beam_check: cluster: the REST API shows {jobs or 'no job'} for {job_name}, expected FINISHED")
        detail = f"; Flink job {jobs[0]['jid']} FINISHED, ran {jobs[0]['duration'] / 1000:.1f}s of that"
    print(
        f"beam_check: {args.target}{' streaming' if args.streaming else ''}: {state}, result {expected}, "
        f"{wall:.1f}s wall{detail}"
    )


if __name__ == "__main__":
    main()
