// AdminApi against a real ApprovalService over the real SQLite store: every status code the
// API can answer, authentication by bearer token, and the decision rules as the API sees them.
#include "proxy/approvals/admin_api.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "proxy/approvals/request_store.h"
#include "proxy/approvals/service.h"

namespace schemagate::proxy::approvals {
namespace {

using json = nlohmann::json;

const std::string kAliceToken = "alice-secret-token-0123456789abcdef";
const std::string kBobToken = "bob-secret-token-fedcba9876543210";
const std::string kAppToken = "app-user-token-5555555555555555";  // approver "app" = the requesting db user

std::vector<config::AdminToken> test_tokens() {
  return {{"alice", kAliceToken}, {"bob", kBobToken}, {"app", kAppToken}};
}

ApprovalRequest held_drop(const std::string& table) {
  ApprovalRequest r;
  r.statement = "DROP TABLE " + table;
  r.normalized = r.statement;
  r.fingerprint = "00ff00ff00ff00ff";
  r.statement_hash = "hash-" + table;
  r.command_tag = "DROP TABLE";
  r.user = "app";
  r.database = "shop";
  r.client_addr = "127.0.0.1";
  r.application_name = "psql";
  r.rule_id = "no-drop";
  r.rules_json = R"([{"id":"no-drop","message":"DROP TABLE needs approval","detail":"","hint":""}])";
  r.facts_json = "{}";
  r.evidence_json = "{}";
  r.proxy_instance = "test:1";
  return r;
}

class AdminApiTest : public ::testing::Test {
 protected:
  /// A fresh service (store at `path`) with one pending request, `pending_`.
  void start(config::Approvals cfg, const std::string& path = ":memory:") {
    std::string error;
    auto store = open_sqlite_request_store(path, error);
    ASSERT_TRUE(store) << error;
    service_ = std::make_unique<ApprovalService>(cfg, "http://127.0.0.1:6433", std::move(store));
    pending_ = held_drop("orders");
    ASSERT_TRUE(service_->submit(pending_, error)) << error;
    ASSERT_TRUE(valid_request_id(pending_.id)) << pending_.id;
    api_ = std::make_unique<AdminApi>(service_.get(), test_tokens());
  }
  void SetUp() override { start(config::Approvals{}); }

  HttpResponse call(const std::string& method, const std::string& target, const std::string& token = kAliceToken,
                    const std::string& body = "") const {
    HttpRequest r;
    r.method = method;
    r.target = target;
    r.authorization = token.empty() ? "" : "Bearer " + token;
    r.body = body;
    return api_->handle(r);
  }
  HttpResponse approve(const std::string& token, const std::string& body = "") const {
    return call("POST", "/v1/requests/" + pending_.id + "/approve", token, body);
  }
  HttpResponse deny(const std::string& token, const std::string& body) const {
    return call("POST", "/v1/requests/" + pending_.id + "/deny", token, body);
  }
  RequestStatus stored_status() const {
    std::string error;
    const auto r = service_->get(pending_.id, error);
    EXPECT_TRUE(r) << error;
    return r ? r->status : RequestStatus::failed;
  }

  std::unique_ptr<ApprovalService> service_;
  std::unique_ptr<AdminApi> api_;
  ApprovalRequest pending_;
};

/// Parses a response body, which must always be a JSON object.
json body_of(const HttpResponse& r) {
  const json j = json::parse(r.body, nullptr, false);
  EXPECT_TRUE(j.is_object()) << r.body;
  return j.is_object() ? j : json::object();
}

std::string header_of(const HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

void expect_error(const HttpResponse& r, int status) {
  EXPECT_EQ(r.status, status) << r.body;
  const auto j = body_of(r);
  EXPECT_TRUE(j.contains("error") && j["error"].is_string()) << r.body;
}

// ---- authentication

TEST_F(AdminApiTest, MissingTokenIs401WithBearerChallenge) {
  const auto r = call("GET", "/v1/requests", "");
  expect_error(r, 401);
  EXPECT_EQ(header_of(r, "WWW-Authenticate"), "Bearer");
}

TEST_F(AdminApiTest, UnknownPrefixAndExtendedTokensAre401) {
  for (const std::string& token : std::vector<std::string>{"not-a-token", kAliceToken.substr(0, kAliceToken.size() - 1),
                                   kAliceToken.substr(0, 8), kAliceToken + "x", kAliceToken + kBobToken}) {
    const auto r = call("GET", "/v1/requests", token);
    expect_error(r, 401);
    EXPECT_EQ(header_of(r, "WWW-Authenticate"), "Bearer") << token;
  }
  // Nothing was decided by any of them either.
  expect_error(approve(kAliceToken.substr(0, 10)), 401);
  EXPECT_EQ(stored_status(), RequestStatus::pending);
}

TEST_F(AdminApiTest, AuthorizationSchemeMustBeBearer) {
  HttpRequest r{"GET", "/v1/requests", "Basic " + kAliceToken, ""};
  expect_error(api_->handle(r), 401);
  r.authorization = kAliceToken;  // no scheme at all
  expect_error(api_->handle(r), 401);
  r.authorization = "Bearer";
  expect_error(api_->handle(r), 401);
  r.authorization = "Bearer ";
  expect_error(api_->handle(r), 401);
  r.authorization = "bearer " + kAliceToken;  // the scheme is case-insensitive (RFC 7235)
  EXPECT_EQ(api_->handle(r).status, 200);
}

TEST_F(AdminApiTest, TokensMapToTheirApprovers) {
  EXPECT_EQ(api_->approver_for("Bearer " + kAliceToken), "alice");
  EXPECT_EQ(api_->approver_for("Bearer " + kBobToken), "bob");
  EXPECT_EQ(api_->approver_for("Bearer " + kAppToken), "app");
  EXPECT_EQ(api_->approver_for("Bearer " + kAliceToken.substr(1)), std::nullopt);
  EXPECT_EQ(api_->approver_for(""), std::nullopt);
  // A configured empty token never matches anything.
  const AdminApi with_empty(service_.get(), {{"nobody", ""}});
  EXPECT_EQ(with_empty.approver_for("Bearer "), std::nullopt);
  EXPECT_EQ(with_empty.approver_for("Bearer x"), std::nullopt);
}

// ---- routes

TEST_F(AdminApiTest, HealthNeedsNoToken) {
  const auto r = call("GET", "/healthz", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body_of(r)["status"], "ok");
  expect_error(call("POST", "/healthz", ""), 405);
}

TEST_F(AdminApiTest, UnknownRoutesAre404) {
  for (const std::string& target : std::vector<std::string>{"/", "/v1", "/v1/", "/v2/requests", "/v1/requestsx", "/v1/requests/",
                                   "/v1/requests/" + pending_.id + "/frobnicate",
                                   "/v1/requests/" + pending_.id + "/approve/extra"}) {
    expect_error(call("GET", target), 404);
  }
}

TEST_F(AdminApiTest, WrongMethodIs405) {
  auto r = call("DELETE", "/v1/requests");
  expect_error(r, 405);
  EXPECT_EQ(header_of(r, "Allow"), "GET");
  expect_error(call("POST", "/v1/requests"), 405);
  expect_error(call("PUT", "/v1/requests/" + pending_.id), 405);
  r = call("GET", "/v1/requests/" + pending_.id + "/approve");
  expect_error(r, 405);
  EXPECT_EQ(header_of(r, "Allow"), "POST");
  expect_error(call("GET", "/v1/requests/" + pending_.id + "/deny"), 405);
  EXPECT_EQ(stored_status(), RequestStatus::pending);
}

TEST_F(AdminApiTest, ShowReturnsTheRequest) {
  const auto r = call("GET", "/v1/requests/" + pending_.id);
  ASSERT_EQ(r.status, 200) << r.body;
  const auto j = body_of(r);
  EXPECT_EQ(j["id"], pending_.id);
  EXPECT_EQ(j["statement"], "DROP TABLE orders");
  EXPECT_EQ(j["status"], "pending");
  EXPECT_EQ(r.body, to_json_text(pending_)) << "the API's representation is the request's JSON text";
}

TEST_F(AdminApiTest, UnknownIdIs404) {
  const std::string unknown = pending_.id == "0123456789abcdef" ? "fedcba9876543210" : "0123456789abcdef";
  expect_error(call("GET", "/v1/requests/" + unknown), 404);
  expect_error(call("POST", "/v1/requests/" + unknown + "/approve"), 404);
  expect_error(call("POST", "/v1/requests/" + unknown + "/deny", kAliceToken, R"({"reason":"no"})"), 404);
}

TEST_F(AdminApiTest, TraversalAndGarbageIdsNeverReachARequest) {
  const std::string& id = pending_.id;
  std::string upper = id;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::vector<std::string> ids = {"..", "%2e%2e", "..%2f..%2fetc", "%2F", id + "%2f..", id.substr(1),
                                        id + "0", upper == id ? "ZZZZZZZZZZZZZZZZ" : upper, id + "%00", "*",
                                        std::string(5000, 'a')};
  for (const auto& bad : ids) {
    const auto show = call("GET", "/v1/requests/" + bad);
    EXPECT_TRUE(show.status == 404 || show.status == 400) << bad << ": " << show.status;
    const auto vote = call("POST", "/v1/requests/" + bad + "/approve");
    EXPECT_TRUE(vote.status == 404 || vote.status == 400) << bad << ": " << vote.status;
  }
  for (const std::string& target : std::vector<std::string>{"/v1/requests/../requests/" + id, "/v1/requests/" + id + "/../" + id + "/approve",
                                   "/v1/requests/./" + id + "/approve", "/v1/requests//" + id + "/approve",
                                   "/v1/requests/" + id + "/%61pprove"}) {
    const auto r = call("POST", target);
    EXPECT_TRUE(r.status == 404 || r.status == 400 || r.status == 405) << target << ": " << r.status;
  }
  EXPECT_EQ(stored_status(), RequestStatus::pending) << "no traversal reached the real request";
}

TEST_F(AdminApiTest, ListFiltersByStatus) {
  auto second = held_drop("customers");
  std::string error;
  ASSERT_TRUE(service_->submit(second, error)) << error;
  ASSERT_EQ(call("POST", "/v1/requests/" + second.id + "/deny", kBobToken, R"({"reason":"not today"})").status, 200);

  auto ids_of = [&](const std::string& target) {
    const auto r = call("GET", target);
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    std::vector<std::string> ids;
    const json listed = body_of(r);
    for (const auto& item : listed["requests"]) ids.push_back(item["id"]);
    return ids;
  };
  EXPECT_EQ(ids_of("/v1/requests"), (std::vector<std::string>{second.id, pending_.id})) << "newest first";
  EXPECT_EQ(ids_of("/v1/requests?status=pending"), std::vector<std::string>{pending_.id});
  EXPECT_EQ(ids_of("/v1/requests?status=denied"), std::vector<std::string>{second.id});
  EXPECT_TRUE(ids_of("/v1/requests?status=approved").empty());
  EXPECT_EQ(ids_of("/v1/requests?limit=1").size(), 1u);
  EXPECT_EQ(ids_of("/v1/requests?status=pending&limit=1000"), std::vector<std::string>{pending_.id});
}

TEST_F(AdminApiTest, BadListQueriesAre400) {
  for (const std::string& q : std::vector<std::string>{"status=bogus", "status=", "status=PENDING", "status=%70ending", "limit=0", "limit=1001",
                              "limit=-1", "limit=abc", "limit=", "limit=99999999999999999999", "sort=id",
                              "status=pending&status=denied", "status=pending&x=1"}) {
    expect_error(call("GET", "/v1/requests?" + q), 400);
  }
  expect_error(call("GET", "/v1/requests/" + pending_.id + "?x=1"), 400);
}

// ---- decisions

TEST_F(AdminApiTest, ApproveDecidesAndRecordsTheApprover) {
  const auto r = approve(kAliceToken, R"({"reason":"reviewed the plan"})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto j = body_of(r);
  EXPECT_EQ(j["id"], pending_.id);
  EXPECT_EQ(j["status"], "approved");
  EXPECT_EQ(stored_status(), RequestStatus::approved);
  std::string error;
  const auto stored = service_->get(pending_.id, error);
  ASSERT_TRUE(stored) << error;
  ASSERT_EQ(stored->votes.size(), 1u);
  EXPECT_EQ(stored->votes[0].approver, "alice");
  EXPECT_TRUE(stored->votes[0].approve);
  EXPECT_EQ(stored->votes[0].reason, "reviewed the plan");
}

TEST_F(AdminApiTest, ApproveWithoutBodyOrReason) {
  EXPECT_EQ(approve(kAliceToken, "").status, 200);
  EXPECT_EQ(stored_status(), RequestStatus::approved);
}

TEST_F(AdminApiTest, ApproveWithEmptyObject) {
  EXPECT_EQ(approve(kAliceToken, "{}").status, 200);
  EXPECT_EQ(stored_status(), RequestStatus::approved);
}

TEST_F(AdminApiTest, DenyNeedsAReason) {
  expect_error(deny(kAliceToken, ""), 400);
  expect_error(deny(kAliceToken, "{}"), 400);
  expect_error(deny(kAliceToken, R"({"reason":""})"), 400);
  EXPECT_EQ(stored_status(), RequestStatus::pending);
  const auto r = deny(kAliceToken, R"({"reason":"drops a live table"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_of(r)["status"], "denied");
  std::string error;
  const auto stored = service_->get(pending_.id, error);
  ASSERT_TRUE(stored) << error;
  EXPECT_EQ(decided_by(*stored), "alice");
  EXPECT_EQ(decision_reason(*stored), "drops a live table");
}

TEST_F(AdminApiTest, BadBodiesAre400AndDecideNothing) {
  for (const std::string& body : std::vector<std::string>
       {"{\"reason\":", "not json", "{\"reason\":\"x\"} trailing", "\"reason\"", "[]", "42", "null", "true",
        R"({"reason":"ok","approver":"mallory"})", R"({"extra":1})", R"({"reason":5})", R"({"reason":null})",
        R"({"reason":["a"]})", R"({"reason":{"nested":"x"}})", R"({"reason":"a","reason":"b"})",
        "{\"reason\":\"bad \xff utf8\"}", R"({"reason":"nul\u0000byte"})", R"({"reason":"esc\u001b[31m"})"}) {
    expect_error(approve(kAliceToken, body), 400);
    expect_error(deny(kAliceToken, body), 400);
  }
  EXPECT_EQ(stored_status(), RequestStatus::pending);
}

TEST_F(AdminApiTest, ReasonIsAtMost1000Characters) {
  expect_error(approve(kAliceToken, json{{"reason", std::string(1001, 'x')}}.dump()), 400);
  EXPECT_EQ(stored_status(), RequestStatus::pending);
  // Characters, not bytes: 1000 two-byte characters are fine.
  std::string umlauts;
  for (int i = 0; i < 1000; ++i) umlauts += "\xc3\xa4";
  EXPECT_EQ(approve(kAliceToken, json{{"reason", umlauts}}.dump()).status, 200);
}

TEST_F(AdminApiTest, AlreadyDecidedIs409) {
  ASSERT_EQ(deny(kAliceToken, R"({"reason":"no"})").status, 200);
  const auto r = approve(kBobToken);
  expect_error(r, 409);
  EXPECT_EQ(body_of(r)["status"], "denied");
  expect_error(deny(kBobToken, R"({"reason":"also no"})"), 409);
  EXPECT_EQ(stored_status(), RequestStatus::denied);
}

TEST_F(AdminApiTest, SameApproverApprovingTwiceIsIdempotent) {
  const auto first = approve(kAliceToken, R"({"reason":"fine"})");
  ASSERT_EQ(first.status, 200) << first.body;
  // A retry (the CLI after a lost answer) succeeds with the same answer and changes nothing.
  const auto again = approve(kAliceToken, R"({"reason":"fine"})");
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.body, first.body);
  std::string error;
  const auto stored = service_->get(pending_.id, error);
  ASSERT_TRUE(stored) << error;
  EXPECT_EQ(stored->votes.size(), 1u);
}

TEST_F(AdminApiTest, RequesterCannotApproveOwnRequest) {
  expect_error(approve(kAppToken), 403);
  EXPECT_EQ(stored_status(), RequestStatus::pending);
  // Denying one's own request is no privilege escalation.
  EXPECT_EQ(deny(kAppToken, R"({"reason":"sent by mistake"})").status, 200);
}

TEST_F(AdminApiTest, RequesterMayApproveWhenDistinctApproverIsOff) {
  config::Approvals cfg;
  cfg.require_distinct_approver = false;
  start(cfg);
  const auto r = approve(kAppToken);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_of(r)["status"], "approved");
}

TEST_F(AdminApiTest, TwoApprovalsNeedTwoDistinctApprovers) {
  config::Approvals cfg;
  cfg.approvals_required = 2;
  start(cfg);
  auto r = approve(kAliceToken);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_of(r)["status"], "pending") << "one of two approvals";
  r = approve(kAliceToken);  // the same approver again counts once
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_of(r)["status"], "pending");
  EXPECT_EQ(stored_status(), RequestStatus::pending);
  expect_error(approve(kAppToken), 403);
  r = approve(kBobToken);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_of(r)["status"], "approved");
  std::string error;
  const auto stored = service_->get(pending_.id, error);
  ASSERT_TRUE(stored) << error;
  EXPECT_EQ(stored->status, RequestStatus::approved);
  ASSERT_EQ(stored->votes.size(), 2u);
  EXPECT_EQ(stored->votes[0].approver, "alice");
  EXPECT_EQ(stored->votes[1].approver, "bob");
}

// ---- no service, failing store

TEST(AdminApiWithoutService, RoutesAnswer503AfterAuthentication) {
  const AdminApi api(nullptr, test_tokens());
  HttpRequest r{"GET", "/v1/requests", "Bearer " + kAliceToken, ""};
  expect_error(api.handle(r), 503);
  r.target = "/v1/requests/0123456789abcdef/approve";
  r.method = "POST";
  expect_error(api.handle(r), 503);
  r.authorization.clear();
  expect_error(api.handle(r), 401);
  EXPECT_EQ(api.handle(HttpRequest{"GET", "/healthz", "", ""}).status, 200);
}

TEST_F(AdminApiTest, StoreFailureIs503) {
  // A real store that fails: its file's tables dropped underneath it.
  char tmpl[] = "/tmp/sg-admin-api-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl, path = dir + "/state.db";
  start(config::Approvals{}, path);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 10000);
  std::vector<std::string> tables;
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'", -1, &st, nullptr), SQLITE_OK);
  while (sqlite3_step(st) == SQLITE_ROW) tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  ASSERT_FALSE(tables.empty());
  for (const auto& t : tables) {
    const std::string sql = "DROP TABLE \"" + t + "\"";
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  }
  sqlite3_close(db);

  expect_error(call("GET", "/v1/requests"), 503);
  expect_error(call("GET", "/v1/requests/" + pending_.id), 503);
  expect_error(approve(kAliceToken), 503);
  const auto r = call("GET", "/v1/requests");
  EXPECT_EQ(r.body.find(path), std::string::npos) << "the store's message stays in the log";
  service_.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace schemagate::proxy::approvals
