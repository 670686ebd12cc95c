"""Beam's external worker pool (the EXTERNAL environment's service) for the local Flink cluster.

deploy/local/flink.sh runs this as `python deploy/local/flink/worker_pool.py --port 50000 --log-dir DIR`.
A Beam pipeline run with `--environment_type=EXTERNAL --environment_config=127.0.0.1:50000` makes the Flink
TaskManager call StartWorker here once per SDK worker it needs; each worker is a separate Python process
(threads would share one GIL), which then connects back to the TaskManager's control, data and logging
endpoints.

It is Beam's own servicer (apache_beam.runners.worker.worker_pool_main, process mode), started differently
in three ways that matter on a developer's machine:
- It listens on 127.0.0.1 only. worker_pool_main binds [::] (every interface) with no option to change it,
  and whoever reaches the pool can make it run a worker that executes whatever pipeline code it is sent.
- Workers are started with this interpreter (sys.executable). worker_pool_main runs the first `python` on
  PATH, which need not be the virtualenv that has apache-beam (here it is a pyenv shim without Beam).
- Each worker's output goes to a file under --log-dir. worker_pool_main gives workers a stdout pipe that
  nobody reads, so a worker that prints more than a pipe buffer (64 KiB) blocks for good.
SIGTERM stops the pool and then its workers. (worker_pool_main stops them from an atexit hook, which
Python's default SIGTERM handling skips, so they outlive it.)
"""

import argparse
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import traceback

import grpc
from apache_beam.portability.api import beam_fn_api_pb2, beam_fn_api_pb2_grpc
from apache_beam.runners.worker import worker_pool_main
from apache_beam.utils import thread_pool_executor

_LOGGER = logging.getLogger("worker_pool")


class LoopbackWorkerPool(worker_pool_main.BeamFnExternalWorkerPoolServicer):
    def __init__(self, log_dir):
        # The values worker_pool_main's main() ends up with: no state cache, Beam's default buffering.
        super().__init__(use_process=True, state_cache_size=0, data_buffer_time_limit_ms=-1)
        self._log_dir = log_dir

    def StartWorker(self, request, unused_context):  # the gRPC method name
        self._reap_finished_workers()
        try:
            # The same command worker_pool_main builds, with this interpreter instead of `python` from PATH.
            code = (
                "from apache_beam.runners.worker.sdk_worker import SdkHarness; "
                f"SdkHarness({request.control_endpoint.url!r}, worker_id={request.worker_id!r}, "
                f"state_cache_size={self._state_cache_size}, "
                f"data_buffer_time_limit_ms={self._data_buffer_time_limit_ms}).run()"
            )
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.worker_id)
            with open(os.path.join(self._log_dir, f"sdk-worker-{name}.log"), "ab") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-c", code],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    close_fds=True,
                )
            self._worker_processes[request.worker_id] = proc
            _LOGGER.info("started SDK worker %s (pid %d)", request.worker_id, proc.pid)
            return beam_fn_api_pb2.StartWorkerResponse()
        except Exception:
            _LOGGER.exception("could not start SDK worker %s", request.worker_id)
            return beam_fn_api_pb2.StartWorkerResponse(error=traceback.format_exc())

    def _reap_finished_workers(self):
        # A runner that never calls StopWorker (FnApiRunner's EXTERNAL handler does not) would otherwise leave
        # every finished worker behind as a zombie and an entry here.
        for worker_id, proc in list(self._worker_processes.items()):
            if proc.poll() is not None:
                self._worker_processes.pop(worker_id, None)

    def stop_all_workers(self):
        procs = list(self._worker_processes.values())
        self._worker_processes.clear()
        threads = [threading.Thread(target=worker_pool_main.kill_process_gracefully, args=(p, 5)) for p in procs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=50000)
    parser.add_argument("--log-dir", required=True)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s - %(message)s", force=True)
    os.makedirs(args.log_dir, exist_ok=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    pool = LoopbackWorkerPool(args.log_dir)
    # Keepalive settings as in worker_pool_main: workers may sit idle between bundles for a long time.
    server = grpc.server(
        thread_pool_executor.shared_unbounded_instance(),
        options=[("grpc.http2.max_pings_without_data", 0), ("grpc.http2.max_ping_strikes", 0)],
    )
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(pool, server)
    address = f"{args.host}:{args.port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as e:  # newer grpcio raises instead of returning 0
        bound, err = 0, e
    else:
        err = None
    if not bound:
        _LOGGER.error("cannot listen on %s (port taken?)%s", address, f": {err}" if err else "")
        return 1
    server.start()
    _LOGGER.info(
        "Beam worker pool listening on %s (python %s, worker logs in %s)", address, sys.executable, args.log_dir
    )

    while not stop.wait(10):
        pool._reap_finished_workers()
    _LOGGER.info("stopping: no new workers, then SIGTERM to %d worker(s)", len(pool._worker_processes))
    server.stop(grace=2).wait()
    pool.stop_all_workers()
    _LOGGER.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
