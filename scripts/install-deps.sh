#!/usr/bin/env bash
# Installs the Debian packages concd builds against (and python3, which the demo's and the tests'
# Python workers run; postgresql and iproute2, which the fleet tests' private clusters and network
# namespaces need; jq, which the fleet scripts read replies with), only when one is missing.
set -euo pipefail
packages=(libsystemd-dev libcurl4-openssl-dev pkg-config python3 postgresql iproute2 jq)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
