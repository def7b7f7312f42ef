#!/usr/bin/env bash
# Browser tests drive Debian's chromium through Playwright (executable_path=/usr/bin/chromium).
# Install it when missing and we may (root); otherwise say so: the browser tests then skip.
set -eu
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
else
  echo "chromium is not installed (apt-get install chromium as root); browser tests will skip" >&2
fi
