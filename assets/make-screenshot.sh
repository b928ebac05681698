#!/usr/bin/env bash
# Makes a PNG of the live dashboard from a real run:
#   tokmon in tmux (160x48) -> tmux capture-pane -e -p -> aha (ANSI to HTML) -> headless Chromium.
# Needs the Debian packages tmux, aha and chromium. Usage, from the repository root:
#   assets/make-screenshot.sh OUT.png SECONDS [tokmon arguments...]
# e.g. assets/make-screenshot.sh assets/dashboard-stall.png 9 run default
set -euo pipefail
out=$1
wait_s=$2
shift 2
bin=target/release/tokmon
cargo build --release --quiet
session=tokmon-shot-$$
work=$(mktemp -d)
trap 'tmux kill-session -t "$session" 2>/dev/null || true; rm -rf "$work"' EXIT
tmux new-session -d -s "$session" -x 160 -y 48 "TERM=xterm-256color $bin $*"
sleep "$wait_s"
tmux capture-pane -t "$session" -e -p > "$work/screen.ans"
tmux send-keys -t "$session" q
aha --black --title tokmon < "$work/screen.ans" > "$work/screen.html"
# A monospace font and tight lines so box drawing joins up.
sed -i 's|<pre>|<pre style="font-family: DejaVu Sans Mono, monospace; font-size: 14px; line-height: 1.15; margin: 8px">|' "$work/screen.html"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile" --hide-scrollbars --window-size=1380,900 \
    --screenshot="$work/shot.png" "file://$work/screen.html" >/dev/null 2>&1
cp "$work/shot.png" "$out"
cp "$work/screen.ans" "${out%.png}.ans"
echo "wrote $out"
