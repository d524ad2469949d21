#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo run privately (Dovecot; Postfix for the
# send side), without letting apt start the system services: a temporary policy-rc.d refuses.
# Extra package names given as arguments are installed too (CI adds the browser for editor tests).
set -euo pipefail
packages=(dovecot-imapd dovecot-pop3d dovecot-lmtpd postfix openssl "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then exec sudo "$0" "$@"; fi
  echo "Missing Debian packages: ${missing[*]}. Run as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  created_policy=1
fi
trap '[ $created_policy -eq 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
