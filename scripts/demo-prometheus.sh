#!/usr/bin/env bash
# make demo-prometheus: make demo with a real Prometheus scraping the
# sandbox. Protocol 6 then asks Prometheus for its critical alerts and
# production's p95 latency (PROMETHEUS_URL); see
# examples/sandbox/prometheus for the scrape configuration and the rules.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/prometheus.sh check
dir=$(mktemp -d "${TMPDIR:-/tmp}/protorun-prometheus.XXXXXX")
trap 'scripts/prometheus.sh stop "$dir"' EXIT
url=$(scripts/prometheus.sh start "$dir")
echo "==> Prometheus $url (scraping the sandbox every second; data in $dir, removed at the end)"
set +e
PROMETHEUS_URL=$url scripts/demo.sh
code=$?
set -e
echo "==> Prometheus: firing alerts now"
python3 - "$url" <<'PY' || true
import json, sys, urllib.request
alerts = json.load(urllib.request.urlopen(sys.argv[1] + "/api/v1/alerts", timeout=5))["data"]["alerts"]
firing = [a for a in alerts if a["state"] == "firing"]
print("none" if not firing else "\n".join("%s %s" % (a["labels"].get("alertname"), a["labels"]) for a in firing))
PY
exit "$code"
