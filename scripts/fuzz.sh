#!/usr/bin/env bash
# Runs every Fuzz target in the module for a short time (default 5s each), so
# CI checks the parsers against fresh random input, not only the seed corpus.
set -euo pipefail
fuzztime=${1:-5s}
status=0
while IFS= read -r file; do
	pkg="./$(dirname "$file")"
	for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
		echo "fuzz $pkg $target ($fuzztime)"
		if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg" >/tmp/treu-fuzz.log 2>&1; then
			cat /tmp/treu-fuzz.log
			status=1
		fi
	done
done < <(git ls-files -co --exclude-standard '*_test.go' | xargs grep -l '^func Fuzz' | sort)
exit $status
