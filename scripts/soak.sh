#!/usr/bin/env bash
# The hostile-client soak: each attack (a control client that never reads, a metrics client that
# never reads, an endless header, an idle crowd, connect-and-vanish, half-written frames held open,
# fuzzing) runs for SECONDS (default 60) against a concd of its own while a well-behaved client
# submits no-ops and checks every answer. Prints the table of docs/reliability.md and exits 1 if a
# target is missed: RSS within idle + 32 MiB during the attack and back within 8 MiB of idle within
# 5 s after it, no wrong answer, the daemon alive, the good client's p50 within 3x of its own p50
# without the attack.
#
#   scripts/soak.sh [SECONDS] [ATTACK...]
#
# Loopback only. The daemons give up on stalled and idle connections after GIVE_UP seconds
# (default 20, so that a 60 s run sees each non-reading connection disconnected and logged).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build-static/release}
SECONDS_EACH=${1:-60}
shift || true
# The idle crowd holds 1 100 connections.
ulimit -n "$(ulimit -Hn)"
exec "$BIN/concctl" bench-soak --seconds "$SECONDS_EACH" --give-up "${GIVE_UP:-20}" --concd "$BIN/concd" "$@"
