#!/usr/bin/env bash
# Makes the README's picture of `tokmon attach`: the example app (examples/stall_server.rs)
# under a client that asks it to sleep and hash on its workers, tokmon attached to it by pid
# in tmux (160x48), captured once a worker shows STUCK and a stall finding names the example's
# line, at least 8 s into the attachment (so the panels have a history). Writes
# assets/attach-stall.png and .ans.
#
# Usage, from the repository root: assets/make-attach-picture.sh
# Needs the Debian packages tmux, aha, chromium and fonts-dejavu-core; not run by CI.
set -euo pipefail

cd "$(dirname "$0")/.."
for tool in tmux aha chromium; do
    command -v "$tool" >/dev/null || { echo "make-attach-picture: $tool is missing" >&2; exit 1; }
done
cargo build --release --quiet --bin tokmon --example stall_server
work=$(mktemp -d)
session=tokmon-attach-$$
app_pid=
trap 'tmux kill-session -t "$session" 2>/dev/null || true; { [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null || true; }; rm -rf "$work"' EXIT

target/release/examples/stall_server 0 > "$work/app.out" &
app_pid=$!
for _ in $(seq 100); do grep -q '^probe socket' "$work/app.out" && break; sleep 0.1; done
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/app.out")

# A client that blocks the app's workers in turn (std::thread::sleep, then an inline hash),
# and one that only asks for echoes.
client() {
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    while true; do
        for request in "$@"; do
            echo "$request" >&3
            read -r _ <&3
            sleep 0.3
        done
    done
}
client "sleep 400" "hash 400" "echo between" &
client "echo hello" &

tmux new-session -d -s "$session" -x 160 -y 48 "TERM=xterm-256color target/release/tokmon attach $app_pid"
source assets/render-screen.sh
for _ in $(seq 600); do
    # One capture, checked and kept: the screen may change between two.
    tmux capture-pane -t "$session" -e -p > "$work/attach.ans"
    screen=$(sed 's/\x1b\[[0-9;]*m//g' "$work/attach.ans")
    if grep -q 'STUCK [0-9]' <<<"$screen" && grep -q 'stall_server.rs:[0-9]' <<<"$screen" &&
        grep -Eq 'elapsed 00:(0[89]|[1-5][0-9])' <<<"$screen"; then
        render "$work/attach"
        cp "$work/attach.ans" assets/attach-stall.ans
        cp "$work/attach.png" assets/attach-stall.png
        echo "wrote assets/attach-stall.png"
        kill $(jobs -p) 2>/dev/null || true
        wait 2>/dev/null || true
        exit 0
    fi
    sleep 0.1
done
echo "make-attach-picture: no stuck worker on screen; it shows:" >&2
tmux capture-pane -t "$session" -p >&2
exit 1
