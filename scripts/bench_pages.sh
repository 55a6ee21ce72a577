#!/usr/bin/env bash
# bench_pages.sh: the marketer's pages and reads at SUBSCRIBERS (default
# 1,000,000) through the real server, each the median of 3 timed requests
# after one warm-up. The database is seeded once by cmd/treubench -seed-only
# and kept in BENCH_DB_DIR (default /tmp/treu-bench-pages-N) between runs.
#
#   scripts/bench_pages.sh            # or: make bench
#   SUBSCRIBERS=100000 scripts/bench_pages.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N=${SUBSCRIBERS:-1000000}
DIR=${BENCH_DB_DIR:-/tmp/treu-bench-pages-$N}
PORT=${BENCH_PORT:-18089}
BASE=http://127.0.0.1:$PORT
BIN=$(mktemp -d)
trap 'rm -rf "$BIN"; [ -n "${SRV:-}" ] && kill "$SRV" 2>/dev/null; true' EXIT

go build -o "$BIN/treu" ./cmd/treu
go build -o "$BIN/treubench" ./cmd/treubench
if [ ! -f "$DIR/treu.db" ]; then
	echo "seeding $N subscribers into $DIR (once) ..."
	"$BIN/treubench" -seed-only -subscribers "$N" -data "$DIR"
fi
"$BIN/treu" migrate --data "$DIR" >/dev/null # a database seeded by an older build
if [ ! -f "$DIR/bench.token" ]; then
	echo 'bench password 0123456789' | "$BIN/treu" user add --data "$DIR" --email bench@shop.example --role owner >/dev/null
	"$BIN/treu" token create --data "$DIR" --name bench | tail -1 >"$DIR/bench.token"
fi
TOKEN=$(cat "$DIR/bench.token")

"$BIN/treu" serve --data "$DIR" --listen "127.0.0.1:$PORT" >"$BIN/serve.log" 2>&1 &
SRV=$!
for _ in $(seq 1 100); do curl -fs "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

JAR=$BIN/jar
CSRF=$(curl -fs -c "$JAR" -b "$JAR" "$BASE/ui/login" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -1)
curl -fs -o /dev/null -c "$JAR" -b "$JAR" --data-urlencode "csrf=$CSRF" \
	--data-urlencode email=bench@shop.example --data-urlencode 'password=bench password 0123456789' "$BASE/ui/login"

api() { curl -fs -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
segment() { # name rule -> id (made once)
	local id
	id=$(api "$BASE/api/segments" | tr '{' '\n' | grep "\"name\":\"$1\"" | sed -n 's/.*"id":\([0-9]*\).*/\1/p' | head -1 || true)
	if [ -z "$id" ]; then
		id=$(api -X POST -d "{\"name\":\"$1\",\"rule\":$2}" "$BASE/api/segments" | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
	fi
	echo "$id"
}
CITY=$(segment bench-city '{"field":"attributes.city","op":"eq","value":"Berlin"}')
ALL=$(segment bench-all '{"all":[]}')

# time3 LABEL URL [curl args]: median of 3 after a warm-up, in ms.
time3() {
	local label=$1 url=$2; shift 2
	curl -fs -o /dev/null "$@" "$url" || { echo "$label: request failed ($url)"; return; }
	local ts=()
	for _ in 1 2 3; do ts+=("$(curl -fs -o /dev/null -w '%{time_total}' "$@" "$url")"); done
	printf '%s\n' "${ts[@]}" | sort -n | sed -n 2p | awk -v l="$label" -v u="$url" '{printf "%-44s %7.1f ms   (GET %s)\n", l, $1*1000, u}'
}

echo "pages at $N subscribers, median of 3 (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
time3 "dashboard /ui/" "$BASE/ui/" -b "$JAR"
time3 "subscriber list /ui/subscribers" "$BASE/ui/subscribers" -b "$JAR"
time3 "subscriber search ?q=kunde777777" "$BASE/ui/subscribers?q=kunde777777" -b "$JAR"
time3 "subscriber search by name ?q=Anna%20Muster77" "$BASE/ui/subscribers?q=Anna%20Muster77" -b "$JAR"
time3 "lists page /ui/lists" "$BASE/ui/lists" -b "$JAR"
time3 "segments page /ui/segments" "$BASE/ui/segments" -b "$JAR"
time3 "segment count, city = Berlin (1/5)" "$BASE/api/segments/$CITY/count?list=newsletter" -H "Authorization: Bearer $TOKEN"
time3 "whole-list count (newsletter)" "$BASE/api/segments/$ALL/count?list=newsletter" -H "Authorization: Bearer $TOKEN"
time3 "segment page /ui/segments/ID/count" "$BASE/ui/segments/$CITY/count" -b "$JAR"
