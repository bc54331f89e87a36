#!/usr/bin/env bash
# Debian packages the tests and benchmarks read data from (never needed to run mmir itself).
set -euo pipefail
needed=(dataset-fashion-mnist opencv-doc chromium wordnet-base espeak-ng)
missing=()
for pkg in "${needed[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "note: install these Debian packages for the full test suite: ${missing[*]}" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
