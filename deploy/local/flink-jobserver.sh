#!/usr/bin/env bash
# Assembles Beam's Flink job server from Maven Central, once, and prints the directory of its jars.
#
#   deploy/local/flink-jobserver.sh          fetch once (idempotent), print the lib directory
#   deploy/local/flink-jobserver.sh path     print the lib directory only (exit 1 if it is not assembled yet)
#
# Beam ships its job server as a shaded `beam-runners-flink-<flink>-job-server` jar, which the repositories
# reachable here do not serve at any version. The runner module it shades is served, and the driver's main class
# is in it, so the runner's runtime closure (deploy/local/flink/jobserver-pom.xml: Beam 2.62.0's runner for
# Flink 1.19, ~160 jars) started as
#   java -cp '<lib>/*' org.apache.beam.runners.flink.FlinkJobServerDriver --flink-master=... --job-port 8099
# is the same job server. deploy/local/flink.sh starts it; this script only fetches.
#
# Environment (all optional):
#   FLINK_JOBSERVER_HOME=<repo>/.cache/flink-jobserver   where the Maven repository, jars and log live
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
POM="$ROOT/deploy/local/flink/jobserver-pom.xml"
HOME_DIR="${FLINK_JOBSERVER_HOME:-$ROOT/.cache/flink-jobserver}"
LIB="$HOME_DIR/lib"
MAIN_JAR_GLOB="beam-runners-flink-1.19-*.jar"

die() { echo "flink-jobserver.sh: $*" >&2; exit 1; }

# The stamp names the pom's checksum: editing the pom (a version bump) refetches, an unchanged pom never touches
# the network.
stamp() { echo "$LIB/.pom-$(cksum <"$POM" | cut -d' ' -f1)"; }

if [[ "${1:-}" == "path" ]]; then
  [[ -f "$(stamp)" ]] || die "not assembled yet: $LIB (run: deploy/local/flink-jobserver.sh)"
  echo "$LIB"
  exit 0
fi
[[ $# -eq 0 ]] || die "usage: ${0##*/} [path]"

if [[ -f "$(stamp)" ]]; then echo "$LIB"; exit 0; fi

command -v mvn >/dev/null || die "mvn not found; it is needed once to fetch Beam's Flink runner from Maven Central"
mkdir -p "$HOME_DIR"
# Only one fetch at a time (flink.sh up and a test session may both ask).
exec 8>"$HOME_DIR/.lock"
flock -w 900 8 || die "another fetch has held $HOME_DIR/.lock for 15 minutes"
if [[ -f "$(stamp)" ]]; then echo "$LIB"; exit 0; fi

# Copy into a scratch dir and swap it in whole: a half-filled lib/ must never look complete.
tmp="$LIB.tmp.$$" log="$HOME_DIR/mvn.log"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
echo "flink-jobserver.sh: assembling Beam's Flink job server from Maven Central (about 150 MB, once) ..." >&2
if ! mvn -B --no-transfer-progress -Dstyle.color=never -f "$POM" -Dmaven.repo.local="$HOME_DIR/m2" \
    dependency:copy-dependencies -DoutputDirectory="$tmp" -DincludeScope=runtime >"$log" 2>&1; then
  grep -E '^\[(ERROR|WARNING)\]' "$log" | head -n 5 >&2 || true
  die "Maven could not fetch the job server's jars (full output: ${log#"$ROOT"/})"
fi
compgen -G "$tmp/$MAIN_JAR_GLOB" >/dev/null || die "Maven ran but no $MAIN_JAR_GLOB arrived"
rm -rf "$LIB" && mv "$tmp" "$LIB" && touch "$(stamp)"
echo "$LIB"
