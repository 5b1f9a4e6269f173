// Arbitrary admin API requests — method, target, Authorization and body split from the input
// on NUL bytes — into AdminApi::handle over a real ApprovalService and SQLite store holding one
// pending request. It must never crash, always answer a JSON object with a status the API
// documents, and never let a request without a known token past authentication.
//
// Input: method \0 target \0 authorization \0 body. Before the split, a first byte of 'A' uses
// a valid approver token and 'R' the requester's own token instead of the authorization field,
// and '@' in the target stands for the pending request's id: so that the fuzzer reaches the
// vote paths, not only the 401s and 404s.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "proxy/approvals/admin_api.h"
#include "proxy/approvals/request_store.h"
#include "proxy/approvals/service.h"

using namespace schemagate;
using namespace schemagate::proxy::approvals;

namespace {

const std::string kApproverToken = "fuzz-approver-token-0123456789";
const std::string kRequesterToken = "fuzz-requester-token-9876543210";

struct World {
  std::unique_ptr<ApprovalService> service;
  std::unique_ptr<AdminApi> api;
  std::string id;
};

World& world() {
  static World* w = [] {
    spdlog::set_level(spdlog::level::off);
    auto* nw = new World;
    std::string error;
    auto store = open_sqlite_request_store(":memory:", error);
    if (!store) std::abort();
    config::Approvals cfg;
    cfg.approvals_required = 2;  // so that one approval leaves it pending and a second decides
    nw->service = std::make_unique<ApprovalService>(cfg, "http://127.0.0.1:6433", std::move(store));
    ApprovalRequest r;
    r.statement = r.normalized = "DROP TABLE t";
    r.statement_hash = "h";
    r.command_tag = "DROP TABLE";
    r.user = "app";
    r.database = "db";
    r.rules_json = "[]";
    r.facts_json = r.evidence_json = "{}";
    if (!nw->service->submit(r, error)) std::abort();
    nw->id = r.id;
    nw->api = std::make_unique<AdminApi>(nw->service.get(),
                                         std::vector<config::AdminToken>{{"approver", kApproverToken},
                                                                         {"app", kRequesterToken}});
    return nw;
  }();
  return *w;
}

/// Back to pending with no votes, so that every input starts from the same state.
void reset(World& w) {
  std::string error;
  ApprovalRequest after;
  w.service->store().update(
      w.id,
      [](ApprovalRequest& r) {
        r.status = RequestStatus::pending;
        r.votes.clear();
        r.decided_ms = r.valid_until_ms = r.finished_ms = 0;
        r.outcome.clear();
        return true;
      },
      after, error);
}

std::string_view next_field(std::string_view& in) {
  const auto nul = in.find('\0');
  const auto field = in.substr(0, nul);
  in = nul == std::string_view::npos ? std::string_view{} : in.substr(nul + 1);
  return field;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  World& w = world();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  char token_choice = 0;
  if (!in.empty() && (in.front() == 'A' || in.front() == 'R')) {
    token_choice = in.front();
    in.remove_prefix(1);
  }
  HttpRequest req;
  req.method = std::string(next_field(in));
  const auto raw_target = next_field(in);
  for (const char c : raw_target) {
    if (c == '@') req.target += w.id;
    else req.target += c;
  }
  req.authorization = std::string(next_field(in));
  if (token_choice == 'A') req.authorization = "Bearer " + kApproverToken;
  if (token_choice == 'R') req.authorization = "Bearer " + kRequesterToken;
  req.body = std::string(in);

  reset(w);
  const HttpResponse res = w.api->handle(req);

  switch (res.status) {
    case 200: case 400: case 401: case 403: case 404: case 405: case 409: break;
    default: std::abort();  // 500 is a bug; 503 cannot happen with a working store
  }
  const auto body = nlohmann::json::parse(res.body, nullptr, false);
  if (!body.is_object()) std::abort();
  if (res.status != 200 && !body.contains("error")) std::abort();
  // Without a known token only /healthz answers 200, and nothing gets past 401 but 404/405.
  const bool authenticated = w.api->approver_for(req.authorization).has_value();
  const bool health = req.target == "/healthz" || req.target.rfind("/healthz?", 0) == 0;
  if (!authenticated && !health && res.status != 401 && res.status != 404 && res.status != 405) std::abort();
  if (res.status == 401) {
    bool challenge = false;
    for (const auto& [k, v] : res.headers) challenge |= k == "WWW-Authenticate" && v == "Bearer";
    if (!challenge) std::abort();
  }
  return 0;
}
