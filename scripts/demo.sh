#!/usr/bin/env bash
# make demo: Protocol 6 end to end against the local sandbox.
#   1. bring up staging and production on 127.0.0.1 (examples/sandbox)
#   2. run protocols/deployment.yaml, deploying version ${VERSION:-1.1.0}
#   3. on a terminal, answer the halts yourself (yes, then your name unless
#      PROTORUN_USER is set, and for production a reason); without one, approve each
#      halt with `protorun approve` as a separate, visible step, and resume
#   4. show the evidence and the report, bring the sandbox down
set -euo pipefail
cd "$(dirname "$0")/.."

PROTORUN=bin/protorun
SANDBOX=bin/sandbox
VERSION=${VERSION:-1.1.0}
export PROTORUN_STATE_DIR=${PROTORUN_STATE_DIR:-.protorun}

# Headings in bold only on a terminal, and not under NO_COLOR (no-color.org).
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
else
  step() { printf '\n==> %s\n' "$*"; }
fi

step "Bringing the sandbox up (staging :18080, production :18090)"
$SANDBOX down >/dev/null 2>&1 || true
$SANDBOX up
trap 'step "Bringing the sandbox down"; $SANDBOX down' EXIT
$SANDBOX status

RUN=demo-$(date +%Y%m%d-%H%M%S)
step "protorun run protocols/deployment.yaml --var version=$VERSION   (run $RUN)"
set +e
if [ -t 0 ] && [ -t 1 ]; then
  $PROTORUN run protocols/deployment.yaml --var version="$VERSION" --run-id "$RUN"
  code=$?
else
  $PROTORUN run protocols/deployment.yaml --var version="$VERSION" --run-id "$RUN"
  code=$?
  while [ "$code" -eq 3 ]; do
    step "No terminal: the run halted (exit 3). Approving it as a separate step:"
    $PROTORUN status "$RUN" | sed -n '/Waiting/,/approve:/p'
    echo "\$ protorun approve $RUN --as demo-approver --reason 'make demo'"
    $PROTORUN approve "$RUN" --as demo-approver --reason "make demo"
    step "protorun resume $RUN"
    $PROTORUN resume "$RUN"
    code=$?
  done
fi
set -e

step "Where things are"
echo "run journal:       $PROTORUN_STATE_DIR/runs/$RUN/journal.jsonl   (protorun logs $RUN)"
echo "evidence:          .artifacts/deployment/"
ls -1 .artifacts/deployment/ | sed 's/^/                     /'
echo "deployment report: .artifacts/deployment/deployment-report.md (and .json)"
$SANDBOX status
exit "$code"
