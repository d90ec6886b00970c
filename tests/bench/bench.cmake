# Benchmarks: built with the tests, never registered with ctest (they
# measure, they do not judge); tests/bench/README.md lists them.
# tests/bench/policy.sh runs policy_bench; throughput.sh, handshakes.sh and
# session_memory.sh run as root with network namespaces, the last two with
# ztvpn-hsload.
add_executable(policy_bench bench/policy_bench.c)
target_link_libraries(policy_bench PRIVATE ztserver)

# ztvpn-hsload: the handshake load generator of handshakes.sh and
# session_memory.sh; it speaks the protocol with the client's own code.
find_package(Threads REQUIRED)
add_executable(ztvpn-hsload bench/hsload.c)
target_link_libraries(ztvpn-hsload PRIVATE ztclient Threads::Threads)

# gso_bench: ns per 64 KiB super-packet split (tun/gso.c) and coalesced
# (tun/gro.c); it uses the unit tests' packet builder (unit/superpkt.h).
add_executable(gso_bench bench/gso_bench.c)
target_link_libraries(gso_bench PRIVATE zttun)
target_include_directories(gso_bench PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)

# dgram_bench: ns per datagram sealed and opened (common/dgram.c), both
# ciphers, and the cost of refusing forged and replayed datagrams.
add_executable(dgram_bench bench/dgram_bench.c)
target_link_libraries(dgram_bench PRIVATE ztcommon)
