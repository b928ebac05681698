#!/usr/bin/env bash
# Makes the README's picture of tokmon attached to a real server no one here wrote: mini-redis
# (examples/redis_server.rs) with four Redis clients and a cache refresher that blocks a worker
# 300 ms a second, tokmon attached by pid in tmux (160x48), captured once a worker shows STUCK
# and a stall finding names the example's line, at least 8 s into the attachment. Writes
# assets/real-server-stall.png and .ans.
#
# Usage, from the repository root: assets/make-real-server-picture.sh
# Needs the Debian packages tmux, aha, chromium and fonts-dejavu-core; not run by CI.
set -euo pipefail

cd "$(dirname "$0")/.."
for tool in tmux aha chromium; do
    command -v "$tool" >/dev/null || { echo "make-real-server-picture: $tool is missing" >&2; exit 1; }
done
cargo build --release --quiet --bin tokmon --example redis_server
work=$(mktemp -d)
session=tokmon-redis-$$
app_pid=
trap 'tmux kill-session -t "$session" 2>/dev/null || true; { [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null || true; }; rm -rf "$work"' EXIT

target/release/examples/redis_server --port 0 --clients 4 --hold-ms 300 > "$work/app.out" &
app_pid=$!
for _ in $(seq 100); do grep -q '^probe socket' "$work/app.out" && break; sleep 0.1; done

tmux new-session -d -s "$session" -x 160 -y 48 "TERM=xterm-256color target/release/tokmon attach $app_pid"
source assets/render-screen.sh
for _ in $(seq 600); do
    # One capture, checked and kept: the screen may change between two.
    tmux capture-pane -t "$session" -e -p > "$work/redis.ans"
    screen=$(sed 's/\x1b\[[0-9;]*m//g' "$work/redis.ans")
    if grep -q 'STUCK [0-9]' <<<"$screen" && grep -q 'redis_server.rs:[0-9]' <<<"$screen" &&
        grep -Eq 'elapsed 00:(0[89]|[1-5][0-9])' <<<"$screen"; then
        render "$work/redis"
        cp "$work/redis.ans" assets/real-server-stall.ans
        cp "$work/redis.png" assets/real-server-stall.png
        echo "wrote assets/real-server-stall.png"
        exit 0
    fi
    sleep 0.1
done
echo "make-real-server-picture: no stuck worker on screen; it shows:" >&2
tmux capture-pane -t "$session" -p >&2
exit 1
