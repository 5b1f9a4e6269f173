# pg_store tests: the RequestStore contract over both backends, and what only the PostgreSQL
# backend does (LISTEN/NOTIFY between instances, reconnects, identifier quoting, migrations).
if(TARGET sg_test_support)
  sg_add_gtest(approvals_store_tests integration
    SOURCES approvals/request_store_contract_test.cc approvals/pg_request_store_test.cc
    LIBS sg_proxy sg_test_support)
endif()
