# Integration tests: the real programs in network namespaces
# (tests/integration/test_*.sh, helpers in lib.sh). They need root, run one
# at a time, and exit 77 (skipped) when not run as root.
#   ctest -L integration --output-on-failure
# or, outside ctest: sudo tests/integration/run-all.sh [NAME...]
set(ZT_INTEGRATION_TESTS
  pki
  pki_tool
  config_errors
  tunnel
  two_clients
  rejections
  server_name
  robustness
  reconnect
  ipv6
  keepalive
  limits
  preauth
  policy
  revocation
  reload
  ctl
  full_tunnel
  sandbox
  metrics
  udp
  udp_fallback
  udp_roam
  udp_rekey
  workers
)
foreach(name IN LISTS ZT_INTEGRATION_TESTS)
  add_test(NAME integration.${name}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_${name}.sh)
  set_tests_properties(integration.${name} PROPERTIES
    ENVIRONMENT "ZT_BUILD=${CMAKE_BINARY_DIR}"
    LABELS integration
    RUN_SERIAL TRUE
    TIMEOUT 300
    SKIP_RETURN_CODE 77)
endforeach()

# The same tests once more on a PKI made by ztvpn-pki (tests/pki/mkpki-tool.sh)
# instead of the openssl CLI: integration.NAME.pkitool. All of them in the
# normal build (pki is the openssl PKI's own test, pki_tool already uses
# the tool) but three of the UDP ones; the sanitizer build repeats only the
# ones whose certificates matter most, to keep its time down. udp_fallback,
# udp_roam and udp_rekey (~1 min each) exercise paths, addresses and keys
# after the admission (their re-authentications verify the certificates
# the admission already did); udp, which admits and revokes over the data
# channel, is repeated.
if(ZTVPN_SANITIZE)
  set(ZT_PKITOOL_TESTS tunnel rejections revocation)
else()
  set(ZT_PKITOOL_TESTS ${ZT_INTEGRATION_TESTS})
  list(REMOVE_ITEM ZT_PKITOOL_TESTS pki pki_tool udp_fallback udp_roam udp_rekey workers)
endif()
foreach(name IN LISTS ZT_PKITOOL_TESTS)
  add_test(NAME integration.${name}.pkitool
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_${name}.sh)
  set_tests_properties(integration.${name}.pkitool PROPERTIES
    ENVIRONMENT "ZT_BUILD=${CMAKE_BINARY_DIR};ZT_PKI_MAKER=tool"
    LABELS integration
    RUN_SERIAL TRUE
    TIMEOUT 300
    SKIP_RETURN_CODE 77)
endforeach()
