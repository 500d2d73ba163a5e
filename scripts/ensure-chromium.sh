#!/usr/bin/env bash
# Install Debian's Chromium if it is missing; the end-to-end test renders the Dagster UI with it.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
echo "Chromium is missing; installing Debian's chromium package" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
/usr/bin/chromium --version >&2
