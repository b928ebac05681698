#!/usr/bin/env bash
# Makes the README's pictures from a recording of the default demo (assets/demo.rec):
#   tokmon replay in tmux (160x48) -> replay keys stop it at chosen moments ->
#   tmux capture-pane -e -p -> aha (ANSI to HTML) -> headless Chromium (PNG) -> ImageMagick (GIF).
#
# Deterministic: nothing is timed. The replay is paused and sent back to 0:00 at once (space,
# then `[`); each moment is then reached with `.`, which steps exactly one recorded sample: the
# picture of a moment is the dashboard at the recording's first sample at or after it. Every
# capture is checked against the elapsed time of that sample before it is kept, and the same
# recording gives the same pictures, byte for byte.
#
# Usage, from the repository root:
#   assets/make-pictures.sh            # the pictures from assets/demo.rec
#   assets/make-pictures.sh record     # first record a new assets/demo.rec (40 s of the default
#                                      # demo on the dashboard, in tmux), then the pictures
# Writes assets/dashboard-stall.png and .ans, assets/dashboard-fixed.png and .ans, assets/demo.gif.
# The moments, in seconds of the recording (a new recording may need others: the stall picture
# must show a stuck worker, and the script stops if it does not):
#   STALL_AT=12.6 FIXED_AT=30 FRAMES="2 4 5.5 7 9 11 12.6 13 17 19 20.5 22 25 28 30 35"
# FRAMES_DIR=DIR also keeps the animation's frames there as PNGs.
#
# Needs the Debian packages tmux, aha, chromium, imagemagick and fonts-dejavu-core; not run by CI.
set -euo pipefail

cd "$(dirname "$0")/.."
rec=assets/demo.rec
stall_at=${STALL_AT:-12.6}
fixed_at=${FIXED_AT:-30}
frames=${FRAMES:-2 4 5.5 7 9 11 12.6 13 17 19 20.5 22 25 28 30 35}

missing=()
for tool in tmux:tmux aha:aha chromium:chromium convert:imagemagick zcat:gzip fc-list:fontconfig; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
# Some machines have a `convert` that is not ImageMagick's.
if command -v convert >/dev/null && ! convert -version 2>/dev/null | grep ImageMagick >/dev/null; then
    missing+=(imagemagick)
fi
if command -v fc-list >/dev/null && ! fc-list | grep 'DejaVu Sans Mono' >/dev/null; then
    missing+=(fonts-dejavu-core)
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "make-pictures: missing tools; install them with:" >&2
    echo "  sudo apt-get install ${missing[*]}" >&2
    exit 1
fi

cargo build --release --quiet
bin=$PWD/target/release/tokmon
session=tokmon-pictures-$$
work=$(mktemp -d)
trap 'tmux kill-session -t "$session" 2>/dev/null || true; rm -rf "$work"' EXIT

screen() { tmux capture-pane -t "$session" -e -p; }

# Waits until the plain screen matches the extended regex $1; fails after ~30 s.
wait_for() {
    for _ in $(seq 300); do
        if tmux capture-pane -t "$session" -p | grep -E -- "$1" >/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "make-pictures: the screen never showed /$1/; it shows:" >&2
    tmux capture-pane -t "$session" -p >&2
    exit 1
}

if [ "${1:-}" = record ]; then
    echo "recording 40 s of the default demo to $rec"
    tmux new-session -d -s "$session" -x 160 -y 48 \
        "TERM=xterm-256color $bin run default --duration 40s --record $work/demo.rec --out /dev/null 2>$work/record.log"
    for _ in $(seq 90); do
        tmux has-session -t "$session" 2>/dev/null || break
        sleep 1
    done
    cat "$work/record.log"
    grep -q recorded "$work/record.log" || exit 1
    cp "$work/demo.rec" "$rec"
fi

# The recording's samples, as nanoseconds since the start, in order.
zcat "$rec" > "$work/rec.jsonl"
if grep -q '^{"type":"session"' "$work/rec.jsonl"; then
    echo "make-pictures: $rec switched scenario; record one run of the default demo" >&2
    exit 1
fi
sed -En 's/^\{"type":"s",[^{]*"elapsed_ns":([0-9]+)[,}].*/\1/p' "$work/rec.jsonl" > "$work/samples"
if [ "$(wc -l < "$work/samples")" -ne "$(grep -c '^{"type":"s"' "$work/rec.jsonl")" ]; then
    echo "make-pictures: cannot read the samples' times in $rec" >&2
    exit 1
fi

# The number (from 1) of the first sample at or after $1 seconds, or of the last sample; and the
# dashboard's clock at sample $1.
sample_at() {
    awk -v t="$1" '$1 < t * 1e9 { n++ } END { print (n < NR ? n + 1 : NR) }' "$work/samples"
}
clock_at() {
    sed -n "${1}p" "$work/samples" |
        awk '{ t = int($1 / 1e8); printf "%02d:%02d.%d", int(t / 600), int(t % 600 / 10), t % 10 }'
}

tmux new-session -d -s "$session" -x 160 -y 48 \
    "TERM=xterm-256color $bin replay $rec --out /dev/null"
wait_for 'REPLAY 1x'
# Pause, then back to 0:00: from here on only the keys move the replay.
tmux send-keys -t "$session" Space
wait_for 'PAUSED'
tmux send-keys -t "$session" '['
wait_for 'REPLAY 1x +0:00 /'
at=0

# Steps to sample $1 (counted from 1) and writes the screen to $work/s-$1.ans.
capture() {
    local want=$1
    if [ "$want" -lt "$at" ]; then
        echo "make-pictures: moments must go forward" >&2
        exit 1
    fi
    while [ "$at" -lt "$want" ]; do
        local n=$((want - at))
        [ "$n" -gt 40 ] && n=40
        tmux send-keys -t "$session" -l "$(printf '%*s' "$n" '' | tr ' ' .)"
        at=$((at + n))
        sleep 0.05
    done
    wait_for "elapsed $(clock_at "$want")"
    # A paused replay draws nothing more once the last key is handled; wait for a still screen.
    local before
    before=$(screen)
    while sleep 0.3; [ "$(screen)" != "$before" ]; do before=$(screen); done
    printf '%s\n' "$before" > "$work/s-$want.ans"
    echo "  sample $want: $(tmux capture-pane -t "$session" -p | grep -o 'elapsed [0-9:.]*')"
}

# render SCREEN: $SCREEN.ans to $SCREEN.png, as every README picture is drawn.
source assets/render-screen.sh

# Each moment as the number of its sample: the two pictures and the animation's frames.
stall=$(sample_at "$stall_at")
fixed=$(sample_at "$fixed_at")
gif=()
for t in $frames; do
    gif+=("$(sample_at "$t")")
done
echo "replaying $rec"
for s in $(printf '%s\n' "$stall" "$fixed" "${gif[@]}" | sort -n -u); do
    capture "$s"
    render "$work/s-$s"
done

grep -q 'STUCK [0-9]' "$work/s-$stall.ans" || {
    echo "make-pictures: no worker is stuck at $stall_at s in $rec; choose another STALL_AT" >&2
    exit 1
}
if grep -q 'STUCK [0-9]' "$work/s-$fixed.ans"; then
    echo "make-pictures: a worker is still stuck at $fixed_at s in $rec; choose another FIXED_AT" >&2
    exit 1
fi
cp "$work/s-$stall.png" assets/dashboard-stall.png
cp "$work/s-$stall.ans" assets/dashboard-stall.ans
cp "$work/s-$fixed.png" assets/dashboard-fixed.png
cp "$work/s-$fixed.ans" assets/dashboard-fixed.ans

# One second a frame, the last held for three; only the changed parts of each frame stored.
pngs=()
for s in "${gif[@]}"; do
    pngs+=("$work/s-$s.png")
    if [ -n "${FRAMES_DIR:-}" ]; then
        mkdir -p "$FRAMES_DIR"
        cp "$work/s-$s.png" "$FRAMES_DIR/frame-$(printf %03d ${#pngs[@]}).png"
    fi
done
n=${#pngs[@]}
convert -delay 100 "${pngs[@]:0:n-1}" -delay 300 "${pngs[n-1]}" -loop 0 \
    -layers Optimize assets/demo.gif
ls -l assets/dashboard-stall.png assets/dashboard-fixed.png assets/demo.gif
