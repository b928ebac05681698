#!/usr/bin/env bash
# Makes the README's picture of `tokmon_poll_running_seconds` during stalls, from a real run:
# the example app (examples/stall_server.rs) with its exporter on, a real Prometheus scraping
# it every second, a client that blocks one worker in std::thread::sleep for 3 s and then in an
# inline hash for 2 s; Prometheus's `query_range` answer over the run is saved as
# assets/prometheus-stall.json and plotted by assets/plot-query-range.py into
# assets/prometheus-stall.png.
#
# Usage, from the repository root: assets/make-prometheus-picture.sh
# Needs prometheus (Debian's package) and python3 with matplotlib; not run by CI.
set -euo pipefail

cd "$(dirname "$0")/.."
command -v prometheus >/dev/null || { echo "make-prometheus-picture: prometheus is missing" >&2; exit 1; }
python3 -c 'import matplotlib' || { echo "make-prometheus-picture: matplotlib is missing" >&2; exit 1; }
cargo build --quiet --example stall_server
work=$(mktemp -d)
app_pid=
prom_pid=
trap '[ -n "$app_pid" ] && kill "$app_pid"; [ -n "$prom_pid" ] && kill "$prom_pid"; rm -rf "$work"' EXIT

TOKMON_PROBE_METRICS_ADDR=127.0.0.1:0 \
    target/debug/examples/stall_server 0 > "$work/app.out" 2> "$work/app.err" &
app_pid=$!
for _ in $(seq 100); do grep -q 'serving metrics on' "$work/app.err" && break; sleep 0.1; done
metrics=$(sed -n 's|^tokmon-probe: serving metrics on http://\(.*\)/metrics$|\1|p' "$work/app.err")
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/app.out")
[ -n "$metrics" ] && [ -n "$port" ] || { cat "$work/app.err" >&2; exit 1; }

prom_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/prometheus.yml" <<CONFIG
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/assets/prometheus/tokmon-alerts.yml
scrape_configs:
  - job_name: stall_server
    static_configs:
      - targets: ['$metrics']
CONFIG
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address="127.0.0.1:$prom_port" --log.level=warn &
prom_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$prom_port/-/ready" >/dev/null && break; sleep 0.2; done

# Its first scrape comes a few seconds after it is ready (target discovery is throttled).
for _ in $(seq 150); do
    curl -sf "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode 'query=up' | grep -q '"1"\]' && break
    sleep 0.2
done
start=$(date +%s)
sleep 4
# One worker held 3 s off the CPU, a pause, then 2 s on it; the other worker stays free.
exec 3<>"/dev/tcp/127.0.0.1/$port"
echo "sleep 3000" >&3; read -r _ <&3
sleep 3
echo "hash 2000" >&3; read -r _ <&3
exec 3<&-
sleep 5
end=$(date +%s)

curl -sf "http://127.0.0.1:$prom_port/api/v1/query_range" \
    --data-urlencode 'query=tokmon_poll_running_seconds' \
    --data-urlencode "start=$start" --data-urlencode "end=$end" --data-urlencode 'step=0.5' \
    > assets/prometheus-stall.json
python3 assets/plot-query-range.py assets/prometheus-stall.json assets/prometheus-stall.png
echo "wrote assets/prometheus-stall.json and assets/prometheus-stall.png"
