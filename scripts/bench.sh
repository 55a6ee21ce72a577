#!/usr/bin/env bash
# The send-engine figures of issue #12, each printed with the command that
# measured it, then the Go benchmarks. `make bench` runs this.
#
#   raw rate    smtp-source -d -s 8 -m N -l 3000 into smtp-sink (Postfix's own tools)
#   treu rate   treubench -n N into the same smtp-sink, right after the raw run
#   ratio       treu rate / raw rate of the same round
#   cpu µs/msg  treubench's user+system CPU from campaign start to the last result, per mail
#   rss         treubench's peak RSS during the send, at N and at LARGE (partial send)
#   syscalls    treubench's read and write system calls per mail (sockets and SQLite)
#
# Each round runs raw and Treu back to back; the medians of ROUNDS rounds are
# reported with the load average, since the rate of a loopback benchmark on a
# shared machine moves with whatever else runs.
#
# Settings (environment): N=100000 ROUNDS=3 LARGE=1000000 (0 skips the 1M RSS run)
# LARGE_FOR=30s PORT=2525 GOBENCH=1 (0 skips the Go benchmarks).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-100000}
ROUNDS=${ROUNDS:-3}
LARGE=${LARGE:-1000000}
LARGE_FOR=${LARGE_FOR:-30s}
PORT=${PORT:-2525}
GOBENCH=${GOBENCH:-1}
GO=${GO:-go}

# Postfix's smtp-sink and smtp-source: install postfix if they are missing
# (its service is not started; only the two test tools are used).
export PATH="$PATH:/usr/sbin"
if ! command -v smtp-sink >/dev/null || ! command -v smtp-source >/dev/null; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "installing: postfix (for smtp-sink and smtp-source)"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postfix >/dev/null
fi

tmp=$(mktemp -d)
sink_pid=""
cleanup() {
	[ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

$GO build -o "$tmp/treubench" ./cmd/treubench
addr=127.0.0.1:$PORT
user=()
[ "$(id -u)" -eq 0 ] && user=(-u nobody) # smtp-sink refuses to run as root without -u
smtp-sink "${user[@]}" "$addr" 1000 >/dev/null 2>&1 &
sink_pid=$!
for _ in $(seq 50); do
	(echo >/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break
	sleep 0.1
done

field() { grep -o "\"$1\":[0-9.]*" | cut -d: -f2; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

raw_cmd="smtp-source -d -s 8 -m $N -l 3000 $addr"
treu_cmd="treubench -n $N -smtp $addr -json"
echo "== send engine, $N mails, $ROUNDS rounds (raw and Treu back to back), $(nproc) cores"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$tmp/raw"; : >"$tmp/treu"; : >"$tmp/ratio"; : >"$tmp/cpu"; : >"$tmp/rss"; : >"$tmp/rd"; : >"$tmp/wr"
for i in $(seq "$ROUNDS"); do
	t0=$(date +%s.%N)
	smtp-source -d -s 8 -m "$N" -l 3000 "$addr"
	t1=$(date +%s.%N)
	raw=$(awk -v n="$N" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n/(b-a)}')
	out=$("$tmp/treubench" -n "$N" -smtp "$addr" -json)
	rate=$(echo "$out" | field msgs_per_sec)
	cpu=$(echo "$out" | field cpu_us_per_msg)
	rss=$(echo "$out" | field peak_rss_mb)
	echo "$out" | field reads_per_msg >>"$tmp/rd"
	echo "$out" | field writes_per_msg >>"$tmp/wr"
	ratio=$(awk -v a="$rate" -v b="$raw" 'BEGIN {printf "%.2f", a/b}')
	echo "round $i: raw $raw msgs/s, treu $rate msgs/s, ratio $ratio, cpu $cpu µs/msg, rss $rss MB (load $(cut -d' ' -f1 /proc/loadavg))"
	echo "$raw" >>"$tmp/raw"; echo "$rate" >>"$tmp/treu"; echo "$ratio" >>"$tmp/ratio"
	echo "$cpu" >>"$tmp/cpu"; echo "$rss" >>"$tmp/rss"
done
echo
echo "| figure (median of $ROUNDS) | value | command |"
echo "| --- | --- | --- |"
echo "| raw Postfix rate | $(median <"$tmp/raw") msgs/s | \`$raw_cmd\` (timed) |"
echo "| Treu send rate | $(median <"$tmp/treu") msgs/s | \`$treu_cmd\` |"
echo "| ratio Treu / raw (per round) | $(median <"$tmp/ratio") | both of the same round |"
echo "| CPU per message | $(median <"$tmp/cpu") µs | \`$treu_cmd\` (cpu_us_per_msg) |"
echo "| peak RSS at $N | $(median <"$tmp/rss") MB | \`$treu_cmd\` (peak_rss_mb) |"
echo "| system calls per mail | $(median <"$tmp/rd") reads, $(median <"$tmp/wr") writes | \`$treu_cmd\` (reads_per_msg, writes_per_msg) |"
if [ "$LARGE" != "0" ]; then
	out=$("$tmp/treubench" -n "$LARGE" -smtp "$addr" -for "$LARGE_FOR" -json)
	echo "| peak RSS at $LARGE | $(echo "$out" | field peak_rss_mb) MB ($(echo "$out" | field sent) sent in $LARGE_FOR) | \`treubench -n $LARGE -smtp $addr -for $LARGE_FOR -json\` |"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$GOBENCH" != "0" ]; then
	echo
	echo "== go test -run='^\$' -bench=. -benchmem ./..."
	$GO test -run='^$' -bench=. -benchmem ./...
fi
