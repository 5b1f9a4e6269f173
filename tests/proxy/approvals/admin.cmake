# admin tests: the admin API (sans I/O) against a real service and SQLite store; the listener
# over real sockets (its HTTPS test makes certificates with the support library, so it needs it).
sg_add_gtest(approvals_admin_api_tests unit
  SOURCES approvals/admin_api_test.cc
  LIBS sg_proxy SQLite::SQLite3 nlohmann_json::nlohmann_json)  # SQLite directly: one test breaks the store's file
if(TARGET sg_test_support)
  sg_add_gtest(approvals_admin_server_tests unit
    SOURCES approvals/admin_server_test.cc
    LIBS sg_proxy sg_test_support nlohmann_json::nlohmann_json)
endif()
