#!/bin/bash
# run-all.sh [TEST...]: run the integration tests (default: every
# test_*.sh here, in name order), one after the other, each bounded to
# 300 s, and print a summary. TEST may be "tunnel" or "test_tunnel.sh".
# The last line is "N passed, M failed", counting individual checks (TAP
# "ok"/"not ok" lines); a test script that fails without reporting a
# failed check (a crash, a timeout) counts as one failed check.
# Exit status: 0 if nothing failed, 1 otherwise. Needs root.
# Environment: ZT_BUILD (default <repo>/build), passed on to the tests.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd -P)
export ZT_BUILD=${ZT_BUILD:-$(cd "$here/../.." && pwd -P)/build}

declare -a tests=()
if (($# > 0)); then
	for t in "$@"; do
		t=${t##*/}
		t=${t#test_}
		t=${t%.sh}
		[[ -f $here/test_$t.sh ]] || { echo "run-all.sh: no test $t" >&2; exit 2; }
		tests+=("$here/test_$t.sh")
	done
else
	for t in "$here"/test_*.sh; do
		tests+=("$t")
	done
fi

passed=0 failed=0
declare -a failed_tests=() skipped_tests=()
out=$(mktemp /tmp/ztvpn-run-all.XXXXXX)
trap 'rm -f "$out"' EXIT

for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	echo "# === $name ==="
	start=$SECONDS
	status=0
	timeout -k 10 300 bash "$t" 2>&1 | tee "$out" || status=${PIPESTATUS[0]}
	p=$(grep -c '^ok ' "$out" || true)
	f=$(grep -c '^not ok ' "$out" || true)
	if [[ $status == 77 ]]; then
		skipped_tests+=("$name")
		echo "# $name: skipped"
		continue
	fi
	if [[ $status != 0 && $f == 0 ]]; then
		f=1
		echo "# $name: exited with status $status without a failed check$([[ $status == 124 ]] && echo " (timed out after 300 s)")"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if ((f > 0)); then
		failed_tests+=("$name")
	fi
	echo "# $name: $p passed, $f failed ($((SECONDS - start)) s)"
done

echo "#"
((${#skipped_tests[@]} == 0)) || echo "# skipped: ${skipped_tests[*]}"
((${#failed_tests[@]} == 0)) || echo "# tests with failures: ${failed_tests[*]}"
echo "$passed passed, $failed failed"
((failed == 0))
