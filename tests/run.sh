#!/bin/bash
# The README's test command: installs what is missing, builds from scratch
# and runs every test: unit and integration tests on a normal build, the same
# again under AddressSanitizer + UndefinedBehaviorSanitizer, and a short run
# of every libFuzzer harness. Run as root (the integration tests create
# network namespaces and TUN devices). Ends with "N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
jobs=$(nproc)

bash packaging/install-deps.sh

passed=0
failed=0
failures=()

# stage NAME BUILD_DIR CMAKE_ARGS... : configure, build and run ctest there.
stage() {
	local name=$1 dir=$2
	shift 2
	echo "=== $name: configure and build in $dir"
	rm -rf "$dir"
	if ! cmake -S "$top" -B "$dir" "$@" >"$dir.configure.log" 2>&1 ||
		! cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1; then
		cat "$dir.configure.log" "$dir.build.log" 2>/dev/null | tail -40
		echo "=== $name: BUILD FAILED"
		failed=$((failed + 1))
		failures+=("$name: build")
		return
	fi
	echo "=== $name: tests"
	local out="$dir/ctest.log"
	ctest --test-dir "$dir" --output-on-failure --timeout 600 2>&1 | tee "$out" || true
	local p f
	p=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed' "$out" || true)
	f=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*(\*\*\*|Failed|Not Run|Timeout)' "$out" || true)
	passed=$((passed + p))
	failed=$((failed + f))
	while IFS= read -r line; do failures+=("$name: $line"); done < <(
		grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*(\*\*\*|Failed|Not Run|Timeout)' "$out" |
			sed -E 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+).*/\1/' || true)
}

stage "release" build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	stage "asan+ubsan" build-asan -DCMAKE_BUILD_TYPE=Debug -DZTVPN_SANITIZE=ON \
	-DCMAKE_C_COMPILER=clang
stage "fuzz smoke" build-fuzz -DCMAKE_BUILD_TYPE=Debug -DZTVPN_FUZZ=ON \
	-DCMAKE_C_COMPILER=clang

echo
if [ ${#failures[@]} -gt 0 ]; then
	echo "Failures:"
	printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
