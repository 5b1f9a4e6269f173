#include "proxy/approvals/request.h"

#include <openssl/rand.h>

#include <nlohmann/json.hpp>

#include <algorithm>

namespace schemagate::proxy::approvals {
namespace {

constexpr const char* kStatusNames[] = {"pending", "approved", "denied", "expired", "withdrawn", "executed", "failed"};

using json = nlohmann::json;

/// Embedded JSON documents (rules, facts, plan, evidence) are kept as text in the struct and
/// as structure in the JSON, so that API clients need not parse twice.
json embedded(const std::string& text, json fallback) {
  if (text.empty()) return fallback;
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json(text) : j;
}

std::string embedded_text(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

}  // namespace

const char* to_string(RequestStatus s) { return kStatusNames[static_cast<int>(s)]; }

std::optional<RequestStatus> parse_request_status(std::string_view text) {
  for (int i = 0; i < 7; ++i)
    if (text == kStatusNames[i]) return static_cast<RequestStatus>(i);
  return std::nullopt;
}

const char* to_string(DecideResult r) {
  switch (r) {
    case DecideResult::recorded: return "recorded";
    case DecideResult::decided: return "decided";
    case DecideResult::already_voted: return "already_voted";
    case DecideResult::conflict: return "conflict";
    case DecideResult::self_approval: return "self_approval";
  }
  return "?";
}

std::string new_request_id() {
  unsigned char bytes[8];
  if (RAND_bytes(bytes, sizeof bytes) != 1) std::abort();  // no CSPRNG: nothing safe to hand out
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (const unsigned char b : bytes) {
    id.push_back(kHex[b >> 4]);
    id.push_back(kHex[b & 15]);
  }
  return id;
}

bool valid_request_id(std::string_view id) {
  return id.size() == 16 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string to_json_text(const ApprovalRequest& r) {
  json votes = json::array();
  for (const auto& v : r.votes)
    votes.push_back({{"approver", v.approver}, {"approve", v.approve}, {"reason", v.reason}, {"at_ms", v.at_ms}});
  const json j = {
      {"id", r.id},
      {"status", to_string(r.status)},
      {"statement", r.statement},
      {"normalized", r.normalized},
      {"fingerprint", r.fingerprint},
      {"statement_hash", r.statement_hash},
      {"command_tag", r.command_tag},
      {"user", r.user},
      {"database", r.database},
      {"client_addr", r.client_addr},
      {"application_name", r.application_name},
      {"rule_id", r.rule_id},
      {"rules", embedded(r.rules_json, json::array())},
      {"facts", embedded(r.facts_json, json::object())},
      {"plan", embedded(r.plan_json, nullptr)},
      {"evidence", embedded(r.evidence_json, json::object())},
      {"in_transaction", r.in_transaction},
      {"proxy_instance", r.proxy_instance},
      {"created_ms", r.created_ms},
      {"expires_ms", r.expires_ms},
      {"decided_ms", r.decided_ms},
      {"valid_until_ms", r.valid_until_ms},
      {"finished_ms", r.finished_ms},
      {"approvals_required", r.approvals_required},
      {"votes", votes},
      {"decided_by", decided_by(r)},
      {"reason", decision_reason(r)},
      {"outcome", r.outcome},
  };
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool from_json_text(std::string_view text, ApprovalRequest& out, std::string& error) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    error = "not a JSON object";
    return false;
  }
  try {
    ApprovalRequest r;
    r.id = j.at("id").get<std::string>();
    const auto status = parse_request_status(j.at("status").get<std::string>());
    if (!status) {
      error = "unknown status";
      return false;
    }
    r.status = *status;
    r.statement = j.at("statement").get<std::string>();
    r.normalized = j.value("normalized", "");
    r.fingerprint = j.value("fingerprint", "");
    r.statement_hash = j.at("statement_hash").get<std::string>();
    r.command_tag = j.value("command_tag", "");
    r.user = j.at("user").get<std::string>();
    r.database = j.at("database").get<std::string>();
    r.client_addr = j.value("client_addr", "");
    r.application_name = j.value("application_name", "");
    r.rule_id = j.value("rule_id", "");
    r.rules_json = embedded_text(j, "rules");
    r.facts_json = embedded_text(j, "facts");
    r.plan_json = embedded_text(j, "plan");
    r.evidence_json = embedded_text(j, "evidence");
    r.in_transaction = j.value("in_transaction", false);
    r.proxy_instance = j.value("proxy_instance", "");
    r.created_ms = j.value("created_ms", std::int64_t{0});
    r.expires_ms = j.value("expires_ms", std::int64_t{0});
    r.decided_ms = j.value("decided_ms", std::int64_t{0});
    r.valid_until_ms = j.value("valid_until_ms", std::int64_t{0});
    r.finished_ms = j.value("finished_ms", std::int64_t{0});
    r.approvals_required = j.value("approvals_required", 1);
    for (const auto& v : j.value("votes", json::array()))
      r.votes.push_back(Vote{v.at("approver").get<std::string>(), v.at("approve").get<bool>(), v.value("reason", ""),
                             v.value("at_ms", std::int64_t{0})});
    r.outcome = j.value("outcome", "");
    out = std::move(r);
    return true;
  } catch (const json::exception& e) {
    error = std::string("malformed request: ") + e.what();
    return false;
  }
}

bool expire_if_due(ApprovalRequest& r, std::int64_t now_ms) {
  if (r.status != RequestStatus::pending || r.expires_ms <= 0 || now_ms < r.expires_ms) return false;
  r.status = RequestStatus::expired;
  r.decided_ms = now_ms;
  return true;
}

DecideResult apply_vote(ApprovalRequest& r, const Vote& vote, const DecideRules& rules, std::int64_t now_ms) {
  // A repeated vote of the same approver, the same way, is answered as before, whatever
  // happened since: clients retry on timeouts, and the retry must not read as a conflict.
  for (const auto& v : r.votes)
    if (v.approver == vote.approver && v.approve == vote.approve) return DecideResult::already_voted;
  expire_if_due(r, now_ms);
  if (r.status != RequestStatus::pending) return DecideResult::conflict;
  if (vote.approve && rules.require_distinct_approver && vote.approver == r.user) return DecideResult::self_approval;
  Vote v = vote;
  v.at_ms = now_ms;
  if (!vote.approve) {
    r.votes.push_back(std::move(v));
    r.status = RequestStatus::denied;
    r.decided_ms = now_ms;
    return DecideResult::decided;
  }
  // The same approver changing their mind from deny is impossible (a deny decides); approving
  // again with another reason is the idempotent case above only when the first was approve.
  r.votes.push_back(std::move(v));
  int approvals = 0;
  for (const auto& x : r.votes) approvals += x.approve ? 1 : 0;
  if (approvals < std::max(1, r.approvals_required)) return DecideResult::recorded;
  r.status = RequestStatus::approved;
  r.decided_ms = now_ms;
  r.valid_until_ms = now_ms + rules.validity_ms;
  return DecideResult::decided;
}

std::string decided_by(const ApprovalRequest& r) {
  if (r.status == RequestStatus::pending || r.votes.empty()) return "";
  if (r.status == RequestStatus::expired || r.status == RequestStatus::withdrawn) return "";
  return r.votes.back().approver;
}

std::string decision_reason(const ApprovalRequest& r) {
  if (r.status == RequestStatus::pending || r.votes.empty()) return "";
  if (r.status == RequestStatus::expired || r.status == RequestStatus::withdrawn) return r.outcome;
  return r.votes.back().reason;
}

}  // namespace schemagate::proxy::approvals
