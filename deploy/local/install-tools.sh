#!/usr/bin/env bash
# Installs the system tools the tests use and pip cannot provide, from Debian's packages: Prometheus and
# promtool (the alerting-rule and scrape tests), Chromium (the report page is opened in a real headless browser).
# Idempotent and quick when they are present; needs root (CI and these machines run as root) and apt.
set -euo pipefail

missing=()
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  missing+=(prometheus)
fi
if ! command -v chromium >/dev/null; then
  missing+=(chromium)
fi
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "install-tools.sh: missing Debian packages: ${missing[*]} (install them; needs root + apt)" >&2
  exit 1
fi
echo "install-tools.sh: installing Debian packages: ${missing[*]} ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The prometheus package may start a system Prometheus on :9090; the tests start their own on other ports.
command -v promtool >/dev/null || { echo "install-tools.sh: promtool still missing after install" >&2; exit 1; }
command -v chromium >/dev/null || { echo "install-tools.sh: chromium still missing after install" >&2; exit 1; }
