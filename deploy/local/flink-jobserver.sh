#!/usr/bin/env bash
# Fetches the Beam Flink job server jar that the Python FlinkRunner starts, into the cache Beam looks in first.
#
#   deploy/local/flink-jobserver.sh          fetch once (idempotent), print the jar's path
#   deploy/local/flink-jobserver.sh path     print the path only (exit 1 if it is not there yet)
#
# Beam downloads the jar itself with urllib from Maven Central's public URL, which this machine may not
# reach even where Maven does. It looks in ~/.apache_beam/cache/jars/<file name> before downloading, so
# fetching the jar there with Maven makes `--runner=FlinkRunner --flink_master=[local]` work offline.
#
# Environment (all optional):
#   BEAM_VERSION   the apache-beam version of .venv (else read from .venv/bin/python, else 2.77.0)
#   FLINK_VERSION  Flink minor the job server is built for: 1.19, 1.20, 2.0, 2.1 or 2.2 (Beam 2.77's default: 2.2)
#   BEAM_JAR_CACHE where Beam looks for jars (default ~/.apache_beam/cache/jars)
#   FLINK_JOB_SERVER_JAR  a copy of the jar obtained some other way: it is checked and put in the cache
#                  instead of asking Maven (or pass it to Beam directly: --flink_job_server_jar=<path>)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
die() { echo "flink-jobserver.sh: $*" >&2; exit 1; }

if [[ -z "${BEAM_VERSION:-}" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" ]]; then
    BEAM_VERSION="$("$ROOT/.venv/bin/python" -c 'import importlib.metadata as m; print(m.version("apache-beam"))' 2>/dev/null || true)"
  fi
  BEAM_VERSION="${BEAM_VERSION:-2.77.0}"
fi
FLINK_VERSION="${FLINK_VERSION:-2.2}"
CACHE="${BEAM_JAR_CACHE:-$HOME/.apache_beam/cache/jars}"
ARTIFACT_ID="beam-runners-flink-${FLINK_VERSION}-job-server"
JAR="$CACHE/$ARTIFACT_ID-$BEAM_VERSION.jar"

if [[ "${1:-}" == "path" ]]; then
  [[ -s "$JAR" ]] || die "not fetched yet: $JAR (run: deploy/local/flink-jobserver.sh)"
  echo "$JAR"
  exit 0
fi
[[ $# -eq 0 ]] || die "usage: ${0##*/} [path]"

# A jar is a zip: a file cut short by an interrupted download would fail its central-directory check.
jar_ok() { [[ -s "$1" ]] && python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).close()' "$1" 2>/dev/null; }

if jar_ok "$JAR"; then echo "$JAR"; exit 0; fi

if [[ -n "${FLINK_JOB_SERVER_JAR:-}" ]]; then
  jar_ok "$FLINK_JOB_SERVER_JAR" || die "FLINK_JOB_SERVER_JAR=$FLINK_JOB_SERVER_JAR is not a readable jar"
  mkdir -p "$CACHE"
  cp -f "$FLINK_JOB_SERVER_JAR" "$JAR.tmp.$$" && mv -f "$JAR.tmp.$$" "$JAR"
  echo "$JAR"
  exit 0
fi

command -v mvn >/dev/null || die "mvn not found; it is needed once to fetch $ARTIFACT_ID from Maven Central"
mkdir -p "$CACHE"
# Copy into a scratch dir, then move into place: Beam must never see a half-written jar. Maven's local
# repository stays in .cache (not ~/.m2), beside the Kafka broker's.
tmp="$(mktemp -d "$CACHE/.fetch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
log="$ROOT/.cache/flink-jobserver-mvn.log"
mkdir -p "$ROOT/.cache"
echo "flink-jobserver.sh: fetching org.apache.beam:$ARTIFACT_ID:$BEAM_VERSION (about 250 MB) ..." >&2
# -U: retry even if an earlier attempt recorded the artifact as missing.
if ! mvn -B -U --no-transfer-progress -Dstyle.color=never -Dmaven.repo.local="$ROOT/.cache/m2" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
    -Dartifact="org.apache.beam:$ARTIFACT_ID:$BEAM_VERSION:jar" -DoutputDirectory="$tmp" -Dmdep.overWriteIfNewer=true \
    >"$log" 2>&1; then
  grep -E '^\[(ERROR|WARNING)\]' "$log" | head -n 5 >&2 || true
  # One line: deploy/local/flink.sh shows the last line of this script's output as the reason.
  die "Maven could not fetch org.apache.beam:$ARTIFACT_ID:$BEAM_VERSION (not served by the repository?); supply it with FLINK_JOB_SERVER_JAR=<path> (Maven output: ${log#"$ROOT"/})"
fi
jar_ok "$tmp/$ARTIFACT_ID-$BEAM_VERSION.jar" || die "Maven ran but $ARTIFACT_ID-$BEAM_VERSION.jar is missing or corrupt"
mv -f "$tmp/$ARTIFACT_ID-$BEAM_VERSION.jar" "$JAR"
echo "$JAR"
