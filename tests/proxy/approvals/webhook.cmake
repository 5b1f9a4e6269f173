# webhook tests. webhook_test.cc: signing and verification (unit). http_client_test.cc: the
# HTTP(S) client and the WebhookNotifier against the real receiver tests/tools/webhook_receiver.py
# (integration: needs python3, and openssl for the test certificates).
sg_add_gtest(proxy_webhook_tests unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/webhook_test.cc
  LIBS sg_proxy)
if(TARGET sg_test_support)
  sg_add_gtest(proxy_webhook_http_tests integration
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/http_client_test.cc
    LIBS sg_proxy sg_test_support nlohmann_json::nlohmann_json)
endif()
