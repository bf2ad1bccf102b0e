#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh Debian machine
# (tmux, Chromium for the dashboard's browser test, the pinned Claude Code CLI
# for the conformance suite), then vets and runs every test with the race
# detector, then the conformance suite against the real CLI.
#
#   FLEETWARDEN_SKIP_CLAUDE_E2E=1  skip the real-CLI suite (it needs npm)
#   FLEETWARDEN_FUZZTIME=5s        how long each fuzz target runs
#   CLAUDE_CODE_VERSION=2.1.332    run the real-CLI suite on that release instead of
#                                  the pinned one; "latest" = what npm has now
set -euo pipefail
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1; }
sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=""
apt_install() {
  have apt-get || { echo "test.sh: need $* but there is no apt-get; install it yourself" >&2; exit 1; }
  if [ -z "$apt_updated" ]; then sudo_ apt-get update -qq; apt_updated=1; fi
  echo "== apt-get install $*"
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

have go || { echo "test.sh: Go is not installed" >&2; exit 1; }
have tmux || apt_install tmux
[ -x /usr/bin/chromium ] || apt_install chromium fonts-liberation

go mod download
echo "== go vet"
go vet ./...
go vet -tags claude_e2e ./conformance/...
echo "== go test -race"
go test -race -count=1 -timeout 20m ./...

# Each fuzz target for a few seconds (one target per go test): the parsers of
# what comes from outside (tmux control mode, chat commands, config, panes),
# the chat formatters and the redactor. A crasher is written under the
# package's testdata/fuzz; commit it, and it stays a regression test.
echo "== fuzzing, ${FLEETWARDEN_FUZZTIME:=5s} per target"
# fuzz_target PKG NAME fuzzes one target. A failure with a crasher (a new
# file under PKG/testdata/fuzz/NAME) fails the run, showing the crasher's
# test. A failure without one is the fuzzing machinery's (a worker killed
# or stalled on a loaded machine): its log is shown and the target runs
# once more, and only a second such failure fails the run.
files_in() { if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }
fuzz_target() {
  local pkg=$1 name=$2 dir="$1/testdata/fuzz/$2" log before
  log="$(mktemp)"
  before="$(files_in "$dir")"
  for attempt in 1 2; do
    # -fuzzminimizetime: minimizing every large "interesting" input by
    # default can stall a target at 0 execs/s for its whole run
    # (golang/go#51484).
    if go test -run '^$' -fuzz "^$name\$" -fuzztime "$FLEETWARDEN_FUZZTIME" -fuzzminimizetime 1s "$pkg" >"$log" 2>&1; then
      rm -f "$log"
      return 0
    fi
    if [ "$(files_in "$dir")" != "$before" ]; then
      echo "test.sh: fuzz target $name in $pkg found a crasher; it is in $dir (commit it: it stays a regression test)" >&2
      grep -v '^fuzz: elapsed' "$log" | tail -n 40 >&2
      go test -run "^$name\$" "$pkg" >&2
      exit 1
    fi
    echo "test.sh: fuzzing $name in $pkg failed without a crasher (attempt $attempt); its log:" >&2
    grep -v '^fuzz: elapsed' "$log" | tail -n 40 >&2
  done
  rm -f "$log"
  exit 1
}
for target in \
  ./tmux:FuzzReadControl \
  ./commands:FuzzParse \
  ./bot/telegram:FuzzFormat \
  ./bot/discord:FuzzFormat \
  ./internal/redact:FuzzWrappedToken \
  ./internal/chunk:FuzzLines \
  ./claude:FuzzClassify \
  ./config:FuzzParse \
  ./internal/cronspec:FuzzValidate; do
  fuzz_target "${target%%:*}" "${target#*:}"
done

if [ "${FLEETWARDEN_SKIP_CLAUDE_E2E:-}" != "1" ]; then
  echo "== conformance suite against the real Claude Code CLI ${CLAUDE_CODE_VERSION:-(pinned)}"
  have npm || apt_install nodejs npm
  # -v, filtered: what each case saw, the CLI version, the run time and the
  # requests the fake does not serve show on success too (full log kept).
  log="${TMPDIR:-/tmp}/fleetwarden-conformance.log"
  set +e
  go test -tags claude_e2e -count=1 -timeout 30m -v ./conformance/... 2>&1 | tee "$log" |
    grep -E '^(--- |ok|FAIL|PASS|panic)|^conformance:|^    [a-z_]+_test\.go:[0-9]+: '
  status=("${PIPESTATUS[@]}")
  set -e
  if [ "${status[0]}" -ne 0 ]; then
    echo "== real-CLI suite failed; the end of its full log ($log):" >&2
    tail -n 400 "$log" >&2
    exit 1
  fi
fi
