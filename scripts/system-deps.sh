#!/usr/bin/env bash
# Debian packages the rehearsal and the tests use: Prometheus + promtool and
# Alertmanager + amtool (rules, alerts, the PromQL gate) and Chromium (the HTML report's
# browser check). Installs only what is missing, and only where apt-get exists and we
# may use it; otherwise it says what is missing and how to install it, and carries on:
# peakops runs without them and says once what it skipped.
set -euo pipefail

declare -A package_of=(
  [prometheus]=prometheus
  [promtool]=prometheus
  [prometheus-alertmanager]=prometheus-alertmanager
  [amtool]=prometheus-alertmanager
  [chromium]=chromium
)

missing=()
for command in "${!package_of[@]}"; do
  if ! command -v "$command" >/dev/null 2>&1; then
    missing+=("${package_of[$command]}")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')

if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: missing ${packages}and no apt-get here; install them by hand" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  else
    echo "system-deps: missing ${packages}; run: sudo apt-get install -y ${packages}" >&2
    exit 0
  fi
fi
echo "system-deps: installing ${packages}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq $packages >/dev/null
