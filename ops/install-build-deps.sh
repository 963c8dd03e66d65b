#!/usr/bin/env bash
# Debian packages `npm ci` needs to build @confluentinc/kafka-javascript: its prebuilt binary is
# downloaded from outside the package registries (not reachable here), so the install builds the
# bundled librdkafka against the system's OpenSSL, zlib and zstd (CKJS_LINKING=dynamic, Makefile).
# Installs what is missing when run as root; otherwise says what to install and fails.
set -euo pipefail
packages=(build-essential python3 libssl-dev zlib1g-dev libzstd-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "building the Kafka client (librdkafka) needs ${missing[*]} (Debian names) and there is no apt-get: install them with this system's package manager" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "building the Kafka client (librdkafka) needs ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]} to build the Kafka client (librdkafka)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
