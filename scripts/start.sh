#!/usr/bin/env bash
# The first command of the README's quick start: installs what is missing (the mail servers from
# Debian when run as root or with sudo, the npm packages), builds, and starts the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! bash scripts/install-servers.sh; then
  echo "Continuing without the local mail server." >&2
fi
[ -d node_modules/node-red ] || npm ci --no-audit --no-fund
node scripts/build.mjs --package-only
exec node scripts/start.mjs
