"""Flink's REST API, for what Beam's job server does not do: tell when a bounded job on Flink is done, and end it.

A streaming Beam job on Flink with checkpointing never finishes by itself: Beam keeps its Impulse source alive so
that checkpoints can pass (shutdown_sources_after_idle_ms is "never" with checkpointing on), even when every Kafka
partition has been read to the end offsets of `--until_end_offsets`. Its data is done when the watermark at the
input of every downstream operator is Flink's maximum: then every window has fired and every output was sent.
`finish_when_drained` waits for that and stops the job with a drained savepoint (`POST /jobs/<id>/stop`,
drain=true), after which Flink reports it FINISHED and Beam's `wait_until_finish` returns.

    client = FlinkRest("localhost:8081")
    job_id = client.wait_for_job("reciprocity-1a2b3c4d")
    client.finish_when_drained(job_id)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

MAX_WATERMARK = 2**63 - 1  # Flink's Watermark.MAX_WATERMARK: every event time has passed
ENDED = frozenset({"FINISHED", "FAILED", "CANCELED"})


class FlinkRestError(RuntimeError):
    """The cluster answered something unexpected, or not at all; the message is one line."""


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    name: str
    state: str


class FlinkRest:
    """A small client of one Flink cluster's REST API (the JobManager's, e.g. localhost:8081)."""

    def __init__(self, address: str, timeout_s: float = 10.0) -> None:
        base = address if address.startswith(("http://", "https://")) else f"http://{address}"
        self._http = httpx.Client(base_url=base.rstrip("/"), timeout=timeout_s)
        self.address = base

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str) -> Any:
        try:
            response = self._http.get(path)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise FlinkRestError(f"Flink REST {self.address}{path}: {error}") from None

    def jobs(self) -> list[JobStatus]:
        return [JobStatus(j["jid"], j["name"], j["state"]) for j in self._get("/jobs/overview")["jobs"]]

    def job(self, job_id: str) -> Any:
        return self._get(f"/jobs/{job_id}")

    def wait_for_job(self, name: str, timeout_s: float = 300.0) -> str:
        """The id of the job called `name`, once Flink lists it (a submission takes a few seconds to show)."""
        deadline = time.monotonic() + timeout_s
        while True:
            for job in self.jobs():
                if job.name == name:
                    return job.job_id
            if time.monotonic() >= deadline:
                raise FlinkRestError(f"no job named {name!r} appeared on {self.address} within {timeout_s:.0f} s")
            time.sleep(1.0)

    def input_watermarks(self, job_id: str) -> list[int]:
        """The current input watermark of every subtask of every operator that has inputs (not the sources)."""
        marks: list[int] = []
        for vertex in self.job(job_id)["vertices"]:
            for metric in self._get(f"/jobs/{job_id}/vertices/{vertex['id']}/watermarks"):
                if metric["id"].endswith(".currentInputWatermark"):
                    marks.append(int(metric["value"]))
        return marks

    def state(self, job_id: str) -> str:
        return str(self.job(job_id)["state"])

    def _post(self, path: str, body: dict[str, Any], what: str) -> Any:
        try:
            response = self._http.post(path, json=body)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise FlinkRestError(f"Flink REST: {what} failed: {error}") from None

    def stop_with_drain(self, job_id: str) -> None:
        self._post(f"/jobs/{job_id}/stop", {"drain": True}, f"stopping job {job_id}")

    def stop_with_savepoint(self, job_id: str, directory: str | None = None, timeout_s: float = 300.0) -> str:
        """Stops the job with a savepoint (not drained: its timers and windows stay pending in the savepoint, to
        resume with --savepoint_path) and returns the savepoint's location. Without `directory`, the cluster's
        state.savepoints.dir."""
        body: dict[str, Any] = {"drain": False}
        if directory is not None:
            body["targetDirectory"] = directory
        trigger = self._post(f"/jobs/{job_id}/stop", body, f"stopping job {job_id} with a savepoint")["request-id"]
        deadline = time.monotonic() + timeout_s
        while True:
            answer = self._get(f"/jobs/{job_id}/savepoints/{trigger}")
            if answer["status"]["id"] == "COMPLETED":
                operation = answer.get("operation", {})
                if "location" not in operation:
                    cause = str(operation.get("failure-cause", {}).get("stack-trace", "no reason given"))
                    raise FlinkRestError(f"savepoint of job {job_id} failed: {cause.splitlines()[0]}")
                return str(operation["location"])
            if time.monotonic() >= deadline:
                raise FlinkRestError(f"savepoint of job {job_id} not done within {timeout_s:.0f} s")
            time.sleep(0.5)

    def cancel(self, job_id: str) -> None:
        try:
            self._http.patch(f"/jobs/{job_id}", params={"mode": "cancel"}).raise_for_status()
        except httpx.HTTPError as error:
            raise FlinkRestError(f"Flink REST: cancelling job {job_id} failed: {error}") from None

    def checkpoint_counts(self, job_id: str) -> dict[str, int]:
        """Flink's checkpoint statistics of the job: completed, failed, in_progress, restored, total."""
        return {key: int(value) for key, value in self._get(f"/jobs/{job_id}/checkpoints")["counts"].items()}

    def taskmanagers_running(self, job_id: str, vertex_name_part: str) -> list[str]:
        """The resource ids of the TaskManagers running a subtask of the job's vertex whose name contains
        `vertex_name_part` (deploy/local/flink.sh names them local-taskmanager-<i>)."""
        ids: list[str] = []
        for vertex in self.job(job_id)["vertices"]:
            if vertex_name_part in vertex["name"]:
                for manager in self._get(f"/jobs/{job_id}/vertices/{vertex['id']}/taskmanagers")["taskmanagers"]:
                    if manager.get("status-counts", {}).get("RUNNING", 0) > 0:
                        ids.append(str(manager["taskmanager-id"]))
        return sorted(set(ids))

    def finish_when_drained(self, job_id: str, poll_s: float = 2.0, stop_timeout_s: float = 300.0) -> str:
        """Wait until the job's data is done (every input watermark at the maximum, seen on two polls in a row),
        then stop it with a drained savepoint and wait until it has ended. Returns the job's final state; a job
        that ends by itself (failed, cancelled) is left alone."""
        done_polls = 0
        while done_polls < 2:
            if (state := self.state(job_id)) in ENDED:
                return state
            marks = self.input_watermarks(job_id)
            done_polls = done_polls + 1 if marks and min(marks) >= MAX_WATERMARK else 0
            time.sleep(poll_s)
        self.stop_with_drain(job_id)
        deadline = time.monotonic() + stop_timeout_s
        while (state := self.state(job_id)) not in ENDED:
            if time.monotonic() >= deadline:
                raise FlinkRestError(f"job {job_id} did not stop within {stop_timeout_s:.0f} s of its drain request")
            time.sleep(1.0)
        return state
