#!/usr/bin/env bash
# policy-bench.sh - smtpgate's policy engine beside Postfix's table lookups
#
# Runs bench_policy (full envelope decisions per second on one core, compile
# times of the policy) and has it write the same entries as Postfix tables
# (hash:, cidr:, pcre:) with the same query keys; then times `postmap -q -`
# over those keys and prints lookups per second side by side, with the
# ratio. Both sides run pinned to one CPU. Postfix is installed (Debian's
# postfix and postfix-pcre packages) when missing and we may; when it cannot
# be had, the Postfix columns are skipped with a message.
#
# usage: bench/policy-bench.sh [--smoke] [--build DIR] [--keep] [--no-install]
#                              [--callgrind] [-- bench_policy options...]
#   --smoke       small sizes, a few seconds: checks that the script still works
#   --build DIR   meson build directory (default: build at the top of the repo)
#   --keep        keep the generated policy, tables and keys (path printed)
#   --no-install  never apt-get install postfix
#   --callgrind   also count instructions per envelope under valgrind (cold
#                 and repeated workloads through a reader; a few minutes)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
build="$top/build"
smoke=0
keep=0
install=1
callgrind=0
extra=()

while [ $# -gt 0 ]; do
	case "$1" in
	--smoke) smoke=1 ;;
	--build) build=$2; shift ;;
	--keep) keep=1 ;;
	--no-install) install=0 ;;
	--callgrind) callgrind=1 ;;
	--) shift; extra=("$@"); break ;;
	-h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "policy-bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

tmp=$(mktemp -d /tmp/policy-bench.XXXXXX)
cleanup() { [ "$keep" = 1 ] || rm -rf "$tmp"; }
trap cleanup EXIT

# ---- build ----
bench=""
if { [ -f "$build/build.ninja" ] || (cd "$top" && meson setup "$build" >/dev/null); } &&
	ninja -C "$build" bench/bench_policy >"$tmp/build.log" 2>&1; then
	bench="$build/bench/bench_policy"
else
	# the meson tree may be broken by someone else's work in progress:
	# policy/ and the benchmark build on their own
	echo "policy-bench.sh: meson build failed (see below); building bench_policy alone" >&2
	tail -5 "$tmp/build.log" >&2 || true
	gcc -O2 -g -std=gnu11 -D_GNU_SOURCE -I"$top/policy" "$here/bench_policy.c" \
		"$top"/policy/*.c $(pkg-config --cflags --libs libhs liburcu-qsbr libxxhash) \
		-lpthread -lm -o "$tmp/bench_policy"
	bench="$tmp/bench_policy"
fi

# ---- one CPU, the same for both sides ----
pin=()
if command -v taskset >/dev/null 2>&1; then
	cpu=$(($(nproc) > 1 ? 1 : 0))
	if taskset -c "$cpu" true 2>/dev/null; then
		pin=(taskset -c "$cpu")
	fi
fi

# ---- Postfix ----
# have_postfix - postmap with pcre maps works
have_postfix() {
	command -v postmap >/dev/null 2>&1 && postconf -c "$pfconf" -m 2>/dev/null | grep -qx pcre
}

pfconf="$tmp/postfix-conf"
mkdir -p "$pfconf"
# postmap wants a main.cf; a private minimal one leaves /etc/postfix alone
printf 'compatibility_level = 3.6\n' >"$pfconf/main.cf"

postfix_ok=0
if have_postfix; then
	postfix_ok=1
elif [ "$install" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "policy-bench.sh: installing postfix and postfix-pcre (Debian packages)..." >&2
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y postfix postfix-pcre \
		>"$tmp/apt.log" 2>&1; then
		apt-get update >>"$tmp/apt.log" 2>&1 || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y postfix postfix-pcre \
			>>"$tmp/apt.log" 2>&1 || true
	fi
	if have_postfix; then
		postfix_ok=1
	else
		tail -3 "$tmp/apt.log" >&2 || true
	fi
fi
if [ "$postfix_ok" = 0 ]; then
	echo "policy-bench.sh: Postfix's postmap with pcre maps is not available" \
		"(apt-get install postfix postfix-pcre); the Postfix columns are skipped" >&2
fi

# ---- smtpgate ----
args=(--dir "$tmp/policy" --write-postfix "$tmp/postfix")
[ "$smoke" = 1 ] && args+=(--smoke)
"${pin[@]}" "$bench" "${args[@]}" "${extra[@]}" | tee "$tmp/bench.txt"
kinds="$tmp/postfix/smtpgate-kinds.tsv"

# field KIND COLUMN - a figure of smtpgate-kinds.tsv
field() { awk -F'\t' -v k="$1" -v c="$2" '$1 == k { print $c }' "$kinds"; }

now() { date +%s.%N; }

# postmap_time TABLE KEYS - seconds per key of postmap -q - over KEYS, less
# the time of the same command with the first key alone (start, then open
# and parse the table, which postmap does at the first lookup); sets
# pf_per_key, pf_open (seconds of that one-key run) and pf_hits
postmap_time() {
	local table=$1 keys=$2 n t0 t1 t2
	head -n 1 "$keys" >"$tmp/first"
	n=$(wc -l <"$keys")
	# postmap -q exits 1 when no key was found: only its "fatal:" is an error
	t0=$(now)
	"${pin[@]}" postmap -c "$pfconf" -q - "$table" <"$tmp/first" >/dev/null 2>"$tmp/err" || true
	t1=$(now)
	"${pin[@]}" postmap -c "$pfconf" -q - "$table" <"$keys" >"$tmp/out" 2>>"$tmp/err" || true
	t2=$(now)
	if grep -q 'fatal:' "$tmp/err"; then
		cat "$tmp/err" >&2
		exit 1
	fi
	pf_open=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	pf_per_key=$(awk -v a="$t1" -v b="$t2" -v o="$pf_open" -v n="$n" \
		'BEGIN { s = b - a - o; if (s <= 0 || n < 2) { s = b - a; n++ }; printf "%.9f", s / (n - 1) }')
	pf_hits=$(wc -l <"$tmp/out")
}

declare -A pf_rate pf_hit pf_openv
pf_build=""
if [ "$postfix_ok" = 1 ]; then
	cd "$tmp/postfix"
	t0=$(now)
	postmap -c "$pfconf" hash:senders.hash
	pf_build=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
	for k in exact cidr pcre; do
		case $k in
		exact) table=hash:senders.hash; keys=keys.hash ;;
		cidr) table=cidr:clients.cidr; keys=keys.cidr ;;
		pcre) table=pcre:senders.pcre; keys=keys.pcre ;;
		esac
		postmap_time "$table" "$keys"
		pf_rate[$k]=$(awk -v s="$pf_per_key" 'BEGIN { printf "%.0f", 1 / s }')
		pf_hit[$k]=$pf_hits
		pf_openv[$k]=$pf_open
	done
	cd - >/dev/null
fi

# ---- side by side ----
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
hs_ver=$(pkg-config --modversion libhs 2>/dev/null || echo "?")
pf_ver="not available"
if [ "$postfix_ok" = 1 ]; then
	pf_ver=$(postconf -c "$pfconf" -d mail_version 2>/dev/null | sed 's/.*= //')
fi

echo
echo "smtpgate policy vs Postfix table lookups"
echo "  date      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "  machine   $(nproc) CPUs, ${cpu_model:-unknown CPU}, $(uname -r)"
echo "  pinned    ${pin[*]:-not pinned (no taskset)}"
echo "  versions  smtpgate $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo "?")," \
	"Hyperscan $hs_ver, Postfix $pf_ver"
[ -n "$pf_build" ] && echo "  postmap hash:senders.hash built in ${pf_build} s"
echo
printf '  %-26s %8s %7s %9s %9s %12s %12s %9s\n' kind entries keys "sg hits" "pf hits" \
	"smtpgate/s" "postfix/s" ratio
for k in exact cidr pcre; do
	case $k in
	exact) label="exact address (hash:)" ;;
	cidr) label="client address (cidr:)" ;;
	pcre) label="sender patterns (pcre:)" ;;
	esac
	sg=$(field "$k" 5)
	if [ "$postfix_ok" = 1 ]; then
		pf=${pf_rate[$k]}
		ratio=$(awk -v a="$sg" -v b="$pf" 'BEGIN { printf "%.0fx", a / b }')
		hits=${pf_hit[$k]}
	else
		pf="-" ratio="-" hits="-"
	fi
	printf '  %-26s %8s %7s %9s %9s %12s %12s %9s\n' "$label" "$(field "$k" 2)" \
		"$(field "$k" 3)" "$(field "$k" 4)" "$hits" "$sg" "$pf" "$ratio"
done
env_rate=$(field envelope 5)
if [ "$postfix_ok" = 1 ]; then
	# one envelope costs Postfix at least a client lookup and, for each of
	# HELO, sender and recipient, one hash and one pcre lookup
	pf_env=$(awk -v c="${pf_rate[cidr]}" -v h="${pf_rate[exact]}" -v p="${pf_rate[pcre]}" \
		'BEGIN { printf "%.0f", 1 / (1 / c + 3 / h + 3 / p) }')
	printf '  %-26s %8s %7s %9s %9s %12s %12s %9s\n' "full envelope (*)" "$(field envelope 2)" \
		"$(field envelope 3)" "" "" "$env_rate" "$pf_env" \
		"$(awk -v a="$env_rate" -v b="$pf_env" 'BEGIN { printf "%.0fx", a / b }')"
	echo
	echo "  postfix/s is net of postmap's start and table open, timed alone with one key:"
	echo "    hash ${pf_openv[exact]} s, cidr ${pf_openv[cidr]} s, pcre ${pf_openv[pcre]} s"
	echo "  smtpgate/s is a whole match of the input as pol_eval does it: for a sender,"
	echo "    normalising, the address, local part, domain and parent domains in hash"
	echo "    sets and (pcre row) the literal and head prefilters, then a Hyperscan scan"
	echo "    of the patterns without a literal when the input's first bytes could begin"
	echo "    one of them and, when a literal is present, of the others;"
	echo "    for a client, four prefix tables."
	echo "  (*) Postfix figure estimated from its per-kind rates: 1 cidr + 3 hash + 3 pcre"
	echo "    lookups per envelope, a lower bound of what smtpd's access checks do."
	for k in exact cidr pcre; do
		if [ "$(field "$k" 4)" != "${pf_hit[$k]}" ]; then
			echo "  note: $k hits differ (smtpgate $(field "$k" 4), Postfix ${pf_hit[$k]})"
		fi
	done
else
	printf '  %-26s %8s %7s %9s %9s %12s %12s %9s\n' "full envelope" "$(field envelope 2)" \
		"$(field envelope 3)" "" "" "$env_rate" "-" "-"
	echo
	echo "  Postfix columns skipped: postmap with pcre maps is not available."
	[ "$smoke" = 1 ] || exit 1
fi
echo
echo "  smtpgate full envelopes through an lcore reader (its cache of input facts on):"
printf '    %-40s %12s\n' "cold: every input distinct" "$(field envelope_reader_cold 5)/s" \
	"repeated: Zipf-drawn inputs" "$(field envelope_zipf 5)/s"
echo "    (see the benchmark's table above for cache hit rates; the full envelope"
echo "    row above is the cold workload offline, as Postfix has no such cache)"

# ---- instructions per envelope (callgrind) ----
# time_full runs one untimed and --runs timed passes over the envelopes; a
# dump after each call holds that workload's instructions alone. With
# --instr-atstart=no the benchmark turns instrumentation on around those
# calls only (generating and compiling the policy run at valgrind's plain
# speed): the counts agree within 0.1%, the run is several times shorter.
if [ "$callgrind" = 1 ] && command -v valgrind >/dev/null 2>&1; then
	cq=50000
	[ "$smoke" = 1 ] && cq=2000
	# --smoke first: it sets sizes, --queries and --runs after it override them
	valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$tmp/cg" \
		--toggle-collect=time_full --dump-after=time_full \
		"$bench" $([ "$smoke" = 1 ] && echo --smoke) --dir "$tmp/cg-policy" \
		--queries "$cq" --runs 1 \
		--kind-lookups 100 --hash-keys 100 --cidr-keys 100 --pcre-keys 100 \
		>"$tmp/cg.out" 2>&1 || true
	echo
	echo "  instructions per full envelope (callgrind, $cq envelopes, 2 passes each):"
	for w in 1:cold 2:repeated; do
		f="$tmp/cg.${w%%:*}"
		ir=$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$f" 2>/dev/null | head -1)
		if [ -n "$ir" ]; then
			printf '    %-40s %12s\n' "${w#*:}" \
				"$(awk -v i="$ir" -v n="$cq" 'BEGIN { printf "%.0f", i / (2 * n) }')"
		else
			echo "    ${w#*:}: no callgrind output (see $tmp/cg.out)"
		fi
	done
fi
[ "$keep" = 1 ] && echo "  files kept in $tmp"
exit 0
