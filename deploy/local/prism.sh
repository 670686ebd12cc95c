#!/usr/bin/env bash
# Builds Apache Beam's Prism runner binary from source into .cache/bin/prism, once, and prints its path.
#
#   deploy/local/prism.sh          build if missing or of another version (idempotent), print the path
#   deploy/local/prism.sh path     print the path only (exit 1 if it is not built)
#
# Beam's PrismRunner otherwise downloads a prebuilt binary from GitHub releases, which this machine cannot
# reach; the Go module proxy can serve Prism's source. Pass the binary to Beam with
#   --runner=PrismRunner --prism_location="$(deploy/local/prism.sh)"
# (or to the DirectRunner, which then runs streaming pipelines on Prism instead of falling back).
#
# Environment (all optional):
#   BEAM_VERSION  the apache-beam version of .venv (else read from .venv/bin/python, else 2.77.0): the runner
#                 and the SDK should be the same release
#   PRISM_BIN     where the binary goes (default <repo>/.cache/bin/prism)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
die() { echo "prism.sh: $*" >&2; exit 1; }

if [[ -z "${BEAM_VERSION:-}" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" ]]; then
    BEAM_VERSION="$("$ROOT/.venv/bin/python" -c 'import importlib.metadata as m; print(m.version("apache-beam"))' 2>/dev/null || true)"
  fi
  BEAM_VERSION="${BEAM_VERSION:-2.77.0}"
fi
PRISM_BIN="${PRISM_BIN:-$ROOT/.cache/bin/prism}"
BIN_DIR="$(dirname "$PRISM_BIN")"
PKG="github.com/apache/beam/sdks/v2/go/cmd/prism"

# The binary records the module version it was built from (`go version -m`); rebuild when it differs.
built_version() { go version -m "$1" 2>/dev/null | awk '$1 == "mod" && $2 == "github.com/apache/beam/sdks/v2" { print $3 }'; }

if [[ "${1:-}" == "path" ]]; then
  [[ -x "$PRISM_BIN" ]] || die "not built yet: $PRISM_BIN (run: deploy/local/prism.sh)"
  echo "$PRISM_BIN"
  exit 0
fi
[[ $# -eq 0 ]] || die "usage: ${0##*/} [path]"

if [[ -x "$PRISM_BIN" ]]; then
  # Without Go the version cannot be read: trust a binary that is there.
  if ! command -v go >/dev/null || [[ "$(built_version "$PRISM_BIN")" == "v$BEAM_VERSION" ]]; then
    echo "$PRISM_BIN"
    exit 0
  fi
  echo "prism.sh: $PRISM_BIN is $(built_version "$PRISM_BIN"), want v$BEAM_VERSION; rebuilding" >&2
fi

command -v go >/dev/null || die "go not found; it is needed once to build Prism v$BEAM_VERSION"
mkdir -p "$BIN_DIR"
# Build into a scratch GOBIN and move the binary into place, so an interrupted build never leaves a
# truncated binary where Beam would run it.
tmp="$(mktemp -d "$BIN_DIR/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
echo "prism.sh: building $PKG@v$BEAM_VERSION (a few minutes the first time) ..." >&2
GOBIN="$tmp" go install "$PKG@v$BEAM_VERSION" || die "go install $PKG@v$BEAM_VERSION failed"
mv -f "$tmp/prism" "$PRISM_BIN"
echo "$PRISM_BIN"
