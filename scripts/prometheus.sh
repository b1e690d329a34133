#!/usr/bin/env bash
# Starts a Prometheus server for the sandbox, for scripts/demo-prometheus.sh:
# on 127.0.0.1, an ephemeral port, a temporary data directory, scraping the
# proxies STAGING_PROXY and PRODUCTION_PROXY (host:port; default the
# sandbox's) every second with examples/sandbox/prometheus/rules.yml.
#
#   scripts/prometheus.sh start DIR   starts it in the background; prints its URL
#   scripts/prometheus.sh stop DIR    stops it and removes DIR
set -euo pipefail
cd "$(dirname "$0")/.."

need_prometheus() {
  if ! command -v prometheus >/dev/null 2>&1; then
    cat >&2 <<'MSG'
prometheus: the `prometheus` binary is not installed (or not in PATH).
Install it, then run this again:
  Debian/Ubuntu:  sudo apt-get install -y prometheus
                  (then `sudo systemctl disable --now prometheus`: the demo starts its own)
  macOS:          brew install prometheus
  elsewhere:      https://prometheus.io/download/ (put `prometheus` in PATH)
MSG
    exit 1
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

case "${1:-}" in
start)
  need_prometheus
  dir=${2:?usage: $0 start DIR}
  mkdir -p "$dir/data"
  port=$(free_port)
  sed -e "s/@STAGING_PROXY@/${STAGING_PROXY:-127.0.0.1:18080}/" \
      -e "s/@PRODUCTION_PROXY@/${PRODUCTION_PROXY:-127.0.0.1:18090}/" \
      examples/sandbox/prometheus/prometheus.yml.tmpl > "$dir/prometheus.yml"
  cp examples/sandbox/prometheus/rules.yml "$dir/rules.yml"
  prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$port" --log.level=warn >"$dir/prometheus.log" 2>&1 &
  echo $! > "$dir/pid"
  url="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1] + '/-/ready', timeout=1)" "$url" 2>/dev/null; then
      echo "$url"
      exit 0
    fi
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then break; fi
    sleep 0.2
  done
  echo "prometheus did not become ready; its log:" >&2
  cat "$dir/prometheus.log" >&2
  kill "$(cat "$dir/pid")" 2>/dev/null || true
  exit 1
  ;;
stop)
  dir=${2:?usage: $0 stop DIR}
  if [ -f "$dir/pid" ]; then
    pid=$(cat "$dir/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
  ;;
check)
  need_prometheus
  ;;
*)
  echo "usage: $0 start DIR | stop DIR | check" >&2
  exit 2
  ;;
esac
