# Benchmarks: built with the tests, never registered with ctest (they
# measure, they do not judge). tests/bench/policy.sh runs policy_bench.
add_executable(policy_bench bench/policy_bench.c)
target_link_libraries(policy_bench PRIVATE ztserver)
