# Integration tests: the real programs in network namespaces
# (tests/integration/test_*.sh, helpers in lib.sh). They need root, run one
# at a time, and exit 77 (skipped) when not run as root.
#   ctest -L integration --output-on-failure
# or, outside ctest: sudo tests/integration/run-all.sh [NAME...]
set(ZT_INTEGRATION_TESTS
  pki
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
  policy
  revocation
  reload
  ctl
  full_tunnel
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
