#!/usr/bin/env bash
# Installs the Debian 12 packages stampd needs to build, test and run, and
# only those that are missing. Idempotent and quiet; used by ./test.sh and
# ./demo.sh. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev clang-format clang-tidy
  libsystemd-dev libsqlite3-dev nlohmann-json3-dev libtomlplusplus-dev libspdlog-dev libfmt-dev
  libcli11-dev libgtest-dev libgmock-dev libclang-rt-14-dev libssl-dev
  iproute2 ethtool util-linux tshark jq curl prometheus systemd-container
  python3 procps iputils-ping
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; the answer is no.
echo "wireshark-common wireshark-common/install-setuid boolean false" |
  "${sudo[@]}" debconf-set-selections 2>/dev/null || true
"${sudo[@]}" apt-get update -qq >/dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
