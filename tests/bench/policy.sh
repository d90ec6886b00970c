#!/bin/sh
# policy.sh: the per-packet policy decision benchmark (policy_bench): ns per
# acl_check with 10, 1,000 and 100,000 rules, the compile time and memory of
# the compiled acl, and the list walk policy_eval for comparison. Builds
# nothing: build the policy_bench target first.
#
#   tests/bench/policy.sh
#
# Environment: ZT_BUILD (default <repo>/build).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${ZT_BUILD:-$root/build}
bin=$build/tests/policy_bench
if [ ! -x "$bin" ]; then
	echo "policy.sh: $bin not found: cmake --build $build --target policy_bench" >&2
	exit 2
fi
exec "$bin"
