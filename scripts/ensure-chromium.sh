#!/usr/bin/env bash
# Makes a headless Chromium available for the browser tests
# (test/integration/metrics-ui.test.ts drives it with playwright-core).
# Idempotent and quick when one is installed: it only checks. Otherwise it
# installs Debian's `chromium` package with apt (as root, as CI runs; with
# sudo when that works without a password). Prints the browser's path.
# ROO_CHROMIUM=/path/to/chrome skips all of this.
set -euo pipefail

if [ -n "${ROO_CHROMIUM:-}" ]; then
  if [ -x "$ROO_CHROMIUM" ]; then
    echo "$ROO_CHROMIUM"
    exit 0
  fi
  echo "ensure-chromium: ROO_CHROMIUM=$ROO_CHROMIUM is not an executable" >&2
  exit 1
fi

find_chromium() {
  for c in chromium chromium-browser google-chrome-stable google-chrome; do
    if command -v "$c" >/dev/null 2>&1; then
      command -v "$c"
      return 0
    fi
  done
  return 1
}

if path=$(find_chromium); then
  echo "$path"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "ensure-chromium: no chromium found, and installing one needs root (apt-get install chromium)" >&2
  exit 1
fi

echo "ensure-chromium: installing Debian's chromium (apt-get install chromium)" >&2
export DEBIAN_FRONTEND=noninteractive
# An old or missing package list finds nothing: update it first, quietly.
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq --no-install-recommends chromium >&2

if path=$(find_chromium); then
  echo "$path"
  exit 0
fi
echo "ensure-chromium: chromium was installed but is not on PATH" >&2
exit 1
