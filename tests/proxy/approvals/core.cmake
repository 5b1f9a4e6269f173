# The request model's pure rules (votes, expiry, ids, JSON).
sg_add_gtest(approvals_request_tests unit SOURCES approvals/request_test.cc LIBS sg_proxy)
