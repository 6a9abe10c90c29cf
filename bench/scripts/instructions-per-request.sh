#!/usr/bin/env bash
# Instructions the gateway executes per request in one benchmark scenario, counted by
# callgrind: a figure that does not move with the machine's load, unlike times and ratios.
#
#   bench/scripts/instructions-per-request.sh BENCH SWITCHBOARD SCENARIO OUTDIR [bench args...]
#
# BENCH is a bench binary (target/release/bench-mcp or bench-http), SWITCHBOARD the gateway
# binary to measure, SCENARIO the start of the `running ...` line of the scenario to count
# (for example "shared session sse switchboard (default) c=1"). The gateway runs under
# `valgrind --tool=callgrind` (about 50 times slower, so use concurrency 1 and a window of
# 5 s or more); the counters are zeroed 1.5 s into the scenario and dumped 3 s later, and the
# requests in between are the lines its access log gained (so use `--logging default`).
# Prints the instructions per request and leaves the profile in OUTDIR for
# `callgrind_annotate --inclusive=yes OUTDIR/cg.*.out.1`.
set -euo pipefail
if [ $# -lt 4 ]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
bench=$1 bin=$(realpath "$2") scenario=$3 out=$4
shift 4
command -v valgrind > /dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
mkdir -p "$out"
rm -f "$out"/cg.*
cat > "$out/switchboard" <<WRAP
#!/usr/bin/env bash
exec valgrind --tool=callgrind --callgrind-out-file=$out/cg.%p.out $bin "\$@"
WRAP
chmod +x "$out/switchboard"
log=$out/bench.txt
"$bench" --switchboard "$out/switchboard" "$@" > "$log" 2>&1 &
bench_pid=$!
until grep -qF "running $scenario" "$log"; do
  sleep 0.2
  kill -0 $bench_pid 2> /dev/null || { echo "the benchmark ended before the scenario; see $log" >&2; exit 1; }
done
sleep 1.5
pid=$(pgrep -n -f "callgrind.*$bin run")
access_log=$(readlink "/proc/$pid/fd/2")
callgrind_control -z "$pid" > /dev/null 2>&1
before=$(wc -l < "$access_log")
sleep 3
callgrind_control -d "$pid" > /dev/null 2>&1
after=$(wc -l < "$access_log")
wait $bench_pid || true
requests=$((after - before))
profile=$(ls "$out"/cg."$pid".out.1)
instructions=$(grep -E '^(summary|totals):' "$profile" | head -1 | awk '{print $2}')
{
  echo "scenario: $scenario"
  echo "requests counted: $requests"
  echo "instructions: $instructions"
  echo "instructions per request: $((instructions / requests))"
  echo "profile: $profile"
} | tee "$out/summary.txt"
