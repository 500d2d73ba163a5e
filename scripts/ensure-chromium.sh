#!/usr/bin/env bash
# Install Debian's Chromium if it is missing; the end-to-end test renders the Dagster UI with it.
# Installing needs root (apt-get); as another user this says what to run instead.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "Chromium is missing (/usr/bin/chromium; the browser test needs it) and installing it needs root:" >&2
  echo "  sudo apt-get install chromium     then run make test again" >&2
  exit 1
fi
echo "Chromium is missing; installing Debian's chromium package" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
/usr/bin/chromium --version >&2
