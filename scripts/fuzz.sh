#!/bin/sh
# fuzz.sh [TIME] — run every fuzz target of the module (a func FuzzXxx in a
# _test.go file) for TIME each (a go test -fuzztime value: 60s, 10m,
# 5000x). TIME defaults to $FUZZTIME, then 60s. `make test` runs it with 3s,
# `make fuzz` with 60s.
#
# A failing input is written under the package's testdata/fuzz/FuzzXxx/;
# commit it with the fix so it stays a regression test (plain go test runs
# the seed corpus). FUZZPARALLEL sets the number of workers (default: one
# per CPU), FUZZMINIMIZETIME the -fuzzminimizetime (default 5s). Every target runs even after a failure; the exit status says
# whether any failed.
set -eu

time=${1:-${FUZZTIME:-60s}}
# go test minimizes every new interesting input for up to 60s by default,
# during which nothing else is fuzzed: with inputs of some kilobytes (the
# journals) a 60s run did little else.
minimize=${FUZZMINIMIZETIME:-5s}
go=${GO:-go}
cd "$(dirname "$0")/.."

# "./engine/load_fuzz_test.go:func FuzzParse(" -> "./engine FuzzParse"
targets=$(grep -rHo --include='*_test.go' --exclude-dir=testdata --exclude-dir=vendor \
	'^func Fuzz[A-Za-z0-9_]*(' . |
	sed -e 's|^\(.*\)/[^/]*:func \(Fuzz[A-Za-z0-9_]*\)($|\1 \2|' | sort)
if [ -z "$targets" ]; then
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
fi

failed=""
for dir_name in $(echo "$targets" | tr ' ' '@'); do
	dir=${dir_name%@*}
	name=${dir_name#*@}
	echo "==> $name ($dir, $time)"
	log=$(mktemp)
	if ! "$go" test -run '^$' -fuzz "^$name\$" -fuzztime "$time" -fuzzminimizetime "$minimize" \
		${FUZZPARALLEL:+-parallel "$FUZZPARALLEL"} "$dir" >"$log" 2>&1; then
		# go test sometimes reports the end of -fuzztime itself, caught
		# while a worker was busy on a loaded machine, as a failure
		# ("context deadline exceeded") with no failing input: that is not
		# a finding. A real one writes its input under testdata/fuzz.
		if grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written to' "$log"; then
			echo "fuzz.sh: $name: fuzztime ended mid-input (context deadline exceeded); no failing input" >&2
		else
			failed="$failed $dir:$name"
		fi
	fi
	cat "$log"
	rm -f "$log"
done
if [ -n "$failed" ]; then
	echo "fuzz.sh: failed:$failed" >&2
	exit 1
fi
