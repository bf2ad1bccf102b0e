#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh Debian machine,
# then vets and runs every test with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1; }
sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=""
apt_install() {
  have apt-get || { echo "test.sh: need $* but there is no apt-get; install it yourself" >&2; exit 1; }
  if [ -z "$apt_updated" ]; then sudo_ apt-get update -qq; apt_updated=1; fi
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

have tmux || apt_install tmux
have go || { echo "test.sh: Go is not installed" >&2; exit 1; }

go mod download
echo "== go vet"
go vet ./...
echo "== go test -race"
go test -race -count=1 -timeout 20m ./...
