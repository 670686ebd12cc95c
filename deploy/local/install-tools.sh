#!/usr/bin/env bash
# Installs the system tools the tests use and pip cannot provide: Prometheus and promtool (Debian's package).
# Idempotent and quick when they are present; needs root (CI and these machines run as root) and apt.
set -euo pipefail

if command -v promtool >/dev/null && command -v prometheus >/dev/null; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "install-tools.sh: promtool/prometheus missing; install Debian's 'prometheus' package (needs root + apt)" >&2
  exit 1
fi
echo "install-tools.sh: installing Debian's prometheus package (promtool, prometheus) ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
# The package may start a system Prometheus on :9090; the tests start their own on other ports.
command -v promtool >/dev/null || { echo "install-tools.sh: promtool still missing after install" >&2; exit 1; }
