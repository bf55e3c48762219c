#!/usr/bin/env bash
# run-fuzz.sh - replay the seed corpora, or fuzz for a bounded time, printing TAP
#
#   run-fuzz.sh replay FUZZDIR SRCDIR TARGET...   each corpus input once (a regression test)
#   run-fuzz.sh fuzz   FUZZDIR SRCDIR TARGET...   each target FUZZ_SECONDS (default 20) s
#
# FUZZDIR holds the fuzz_TARGET binaries, SRCDIR is the source tree: the
# corpora are SRCDIR/tests/fuzz/corpus/TARGET/, read only (new inputs a
# run finds go to a scratch directory that is removed). One TAP line per
# target, with the executions and their rate as comments; a crash, leak,
# timeout or invariant failure is "not ok", its input saved under
# SRCDIR/tests/fuzz/crashes/ (not committed) and printed in hex.
set -uo pipefail
mode=$1 fuzzdir=$2 src=$3
shift 3
corpora=$src/tests/fuzz/corpus
crashes=$src/tests/fuzz/crashes
secs=${FUZZ_SECONDS:-20}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/smtpgate-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
# Hyperscan and liburcu are not instrumented; our code is.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}:abort_on_error=0:symbolize=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}:halt_on_error=1

echo "1..$#"
n=0
for t in "$@"; do
	n=$((n + 1))
	bin=$fuzzdir/fuzz_$t
	log=$scratch/$t.log
	mkdir -p "$crashes"
	if [ "$mode" = replay ]; then
		mapfile -t inputs < <(find "$corpora/$t" -type f | sort)
		"$bin" -runs=1 "${inputs[@]}" >"$log" 2>&1
		rc=$?
		runs=$(grep -c '^Executed ' "$log")
		what="replay of ${#inputs[@]} inputs"
	else
		mkdir -p "$scratch/$t"
		"$bin" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix="$crashes/$t-" "$scratch/$t" "$corpora/$t" >"$log" 2>&1
		rc=$?
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
		rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
		what="fuzzed ${secs} s"
	fi
	if [ $rc -eq 0 ]; then
		echo "ok $n - fuzz_$t: $what"
		echo "# executions: ${runs:-?}${rate:+, ${rate}/s}"
		continue
	fi
	echo "not ok $n - fuzz_$t: $what (exit $rc)"
	if [ "$mode" = replay ]; then
		input=$(sed -n 's/^Running: //p' "$log" | tail -1)
		cp "$log" "$crashes/$t-replay.log"
	else
		input=$(sed -n "s/.*Test unit written to //p" "$log" | tail -1)
		[ -n "$input" ] && cp "$log" "$input.log"
	fi
	grep -a -m 8 -E 'invariant broken|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|panic at|SUMMARY' \
		"$log" | sed 's/^/# /'
	if [ -n "${input:-}" ] && [ -f "$input" ]; then
		echo "# input: $input ($(wc -c <"$input") bytes)"
		od -An -tx1 -v "$input" | head -n 64 | tr -s ' ' | sed 's/^/# /'
	fi
done
