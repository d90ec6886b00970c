# libFuzzer harnesses, one per parser in common/ (configured with
# -DZTVPN_FUZZ=ON and clang; the top level adds fuzzer-no-link + ASan/UBSan to
# every object). Each harness also gets a short ctest smoke run, label "fuzz",
# over its seed corpus in fuzz/corpus/NAME (made by fuzz/mkcorpus.py).
#
# A longer run by hand, e.g.:
#   build-fuzz/tests/fuzz_admit -max_total_time=600 /tmp/admit-corpus \
#       tests/fuzz/corpus/admit
# (libFuzzer adds new inputs to the FIRST directory: keep the source tree's
# seeds read-only by naming a scratch directory first.) fuzz_conf needs
# LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp for a leak inside libconfig.

# zt_fuzzer(NAME [RUNS N]) builds fuzz/fuzz_NAME.c; the smoke test runs N
# inputs (20000 unless given).
function(zt_fuzzer name)
  cmake_parse_arguments(ZF "" "RUNS" "" ${ARGN})
  if(NOT ZF_RUNS)
    set(ZF_RUNS 20000)
  endif()
  add_executable(fuzz_${name} fuzz/fuzz_${name}.c)
  target_link_libraries(fuzz_${name} PRIVATE ztcommon)
  target_include_directories(fuzz_${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
  target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
  # New inputs found by the smoke run go to the build tree, never the seeds.
  set(scratch ${CMAKE_CURRENT_BINARY_DIR}/fuzz-corpus/${name})
  file(MAKE_DIRECTORY ${scratch})
  add_test(NAME fuzz.${name}
           COMMAND fuzz_${name} -runs=${ZF_RUNS} -max_len=70000
                   -artifact_prefix=${CMAKE_CURRENT_BINARY_DIR}/fuzz-corpus/${name}-
                   ${scratch} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${name})
  set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz TIMEOUT 300
    ENVIRONMENT "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/fuzz/lsan.supp")
endfunction()

zt_fuzzer(frame)
zt_fuzzer(user_proof)
zt_fuzzer(admit)
zt_fuzzer(reason)
zt_fuzzer(packet)
zt_fuzzer(conf RUNS 10000) # a file write and a libconfig parse per input
zt_fuzzer(control)

# Harnesses for the parsers of server/ and client/: the same zt_fuzzer
# blocks, linked with the program's library as well.
#   fuzz_server_config, fuzz_client_config: the config readers on any file
#   fuzz_admission: USER_PROOF bodies against the fixed user CA in fuzz/data
#     (fuzz/mkadmission.py makes it and the seeds in corpus/admission)
zt_fuzzer(server_config)
target_link_libraries(fuzz_server_config PRIVATE ztserver)
zt_fuzzer(client_config)
target_link_libraries(fuzz_client_config PRIVATE ztclient)
zt_fuzzer(admission)
target_link_libraries(fuzz_admission PRIVATE ztserver)
target_compile_definitions(fuzz_admission PRIVATE
  ZT_FUZZ_DATA="${CMAKE_CURRENT_SOURCE_DIR}/fuzz/data")
zt_fuzzer(policy RUNS 10000) # policy_load on any file; the query and identity parsers
target_link_libraries(fuzz_policy PRIVATE ztserver)

# fuzz_flow: connection tracking fed with sequences of packets (the seeds in
# corpus/flow come from fuzz/mkcorpus.py).
zt_fuzzer(flow)
target_link_libraries(fuzz_flow PRIVATE ztserver)

# fuzz_metrics_http: the metrics listener's HTTP request parser and the
# response it chooses (server/http_request.c, server/metrics_http.c).
zt_fuzzer(metrics_http)
target_link_libraries(fuzz_metrics_http PRIVATE ztserver)

# ztvpn-pki (common/pki): fuzz_pki_index, the issued-certificates index
# parser (a file); fuzz_pki_args, what it parses from its command line
# (names, --org, --san, times, --days, --serial, --reason).
zt_fuzzer(pki_index)
target_link_libraries(fuzz_pki_index PRIVATE ztpki)
zt_fuzzer(pki_args)
target_link_libraries(fuzz_pki_args PRIVATE ztpki)

# fuzz_gso: tun/ offloads, zt_gso_split on any read() of a vnet TUN and
# zt_gro_coalesce of what it makes (the payload must come back) and of
# arbitrary packets. Seeds in corpus/gso (fuzz/mkgso.py).
zt_fuzzer(gso)
target_link_libraries(fuzz_gso PRIVATE zttun)

# fuzz_dgram: UDP data channel datagrams (common/dgram.c) against receivers
# in several key-epoch states, and the input sealed and opened back (seeds
# from fuzz/mkcorpus.py, sealed with the harness's fixed master secret).
zt_fuzzer(dgram)
