#!/bin/sh
# Memory over time of a run: VmRSS and its parts from /proc every PERIOD seconds.
#
#   benches/rss.sh OUT [PERIOD] -- COMMAND...
#   benches/rss.sh rss.txt 10 -- target/release/tokmon run spawn-storm --headless --duration 600s -q
#
# OUT gets one line per reading: seconds since the start, VmRSS, RssAnon and RssFile in kB,
# threads. RssAnon is what the process allocated (the stack symbolizer's parsed units among
# it, from the first stall on); RssFile is files mapped in, mostly tokmon's own executable (the
# symbolizer hands back the debug info pages it read after each stack). At the end, the first reading at or after 60 s, the last one and the peak are
# printed. The command's own output goes where it would (use -q and --out).
set -eu
if [ $# -lt 3 ]; then
    echo "usage: $0 OUT [PERIOD] -- COMMAND..." >&2
    exit 2
fi
out=$1
shift
period=10
if [ "$1" != "--" ]; then
    period=$1
    shift
fi
[ "$1" = "--" ] && shift
: > "$out"
"$@" &
pid=$!
start=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
    line=$(awk '/^VmRSS/ {r = $2} /^RssAnon/ {a = $2} /^RssFile/ {f = $2} /^Threads/ {t = $2}
                END {if (r != "") print r, a, f, t}' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$line" ] && echo "$(($(date +%s) - start)) $line" >> "$out"
    sleep "$period"
done
wait "$pid" || true
awk 'function mb(k) {return k / 1024}
     $1 >= 60 && !m {m = $2; ma = $3; mf = $4; mt = $1}
     $2 > p {p = $2; pt = $1}
     {l = $2; la = $3; lf = $4; lt = $1}
     END {
       printf "RSS  at %d s %.1f MB, at %d s %.1f MB (%+.1f), peak %.1f MB at %d s\n",
              mt, mb(m), lt, mb(l), mb(l - m), mb(p), pt
       printf "anon at %d s %.1f MB, at %d s %.1f MB (%+.1f)\n", mt, mb(ma), lt, mb(la), mb(la - ma)
       printf "file at %d s %.1f MB, at %d s %.1f MB (%+.1f)\n", mt, mb(mf), lt, mb(lf), mb(lf - mf)
     }' "$out"
