#pragma once
// One approval request: a held statement waiting for (or decided by) human approvers.
//
//   pending ──approve × approvals_required──► approved ──statement runs──► executed | failed
//   pending ──deny──► denied          pending ──request_ttl──► expired
//   pending ──Ctrl-C / client gone──► withdrawn
//
// Plain data plus the pure transition rules; the stores persist it, the service drives it.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace schemagate::proxy::approvals {

enum class RequestStatus { pending, approved, denied, expired, withdrawn, executed, failed };

/// "pending", "approved", ... : the names stored, returned by the API and printed.
const char* to_string(RequestStatus s);
std::optional<RequestStatus> parse_request_status(std::string_view text);

/// One approver's vote.
struct Vote {
  std::string approver;  // identity from the admin token (or "webhook:<host>" for decide mode)
  bool approve = false;
  std::string reason;
  std::int64_t at_ms = 0;
};

struct ApprovalRequest {
  std::string id;  // 16 lower-case hex chars from a CSPRNG (new_request_id)
  std::string statement;       // the client's text
  std::string normalized;      // libpg_query normalized form (constants as $n)
  std::string fingerprint;     // libpg_query fingerprint (hex)
  std::string statement_hash;  // statement_hash(canonical_statement(statement)): the key a resend is matched by
  std::string command_tag;     // e.g. "DROP TABLE"
  std::string user, database, client_addr, application_name;
  std::string rule_id;         // the rule that asked for the hold
  std::string rules_json;      // [{"id","message","detail","hint"}] of every matching rule
  std::string facts_json;      // lock and rewrite facts, table sizes (JSON object)
  std::string plan_json;       // the rewrite plan it would run, or "" when it runs as written
  std::string evidence_json;   // gathered at hold time on the client's connection (JSON object)
  bool in_transaction = false;  // held inside the client's transaction block
  std::string proxy_instance;   // which proxy holds the client (host:pid)

  RequestStatus status = RequestStatus::pending;
  std::int64_t created_ms = 0;      // wall clock, ms since the Unix epoch
  std::int64_t expires_ms = 0;      // a pending request becomes expired after this
  std::int64_t decided_ms = 0;      // when it left pending (0 while pending)
  std::int64_t valid_until_ms = 0;  // approved: may be executed until then
  std::int64_t finished_ms = 0;     // executed / failed
  int approvals_required = 1;
  std::vector<Vote> votes;
  std::string outcome;  // executed/failed: the command tag or "SQLSTATE: message"; withdrawn: why
};

/// 16 lower-case hex chars (64 bits) from OpenSSL's CSPRNG.
std::string new_request_id();
/// True for ids new_request_id could have made: what the API accepts before any lookup.
bool valid_request_id(std::string_view id);

/// The request as JSON text (the API's and the webhook's representation, and the stores' row body).
std::string to_json_text(const ApprovalRequest& r);
/// The inverse; false (with `error`) on text that is not a request.
bool from_json_text(std::string_view text, ApprovalRequest& out, std::string& error);

/// What one approver's decision did to a request.
enum class DecideResult {
  recorded,         // vote counted; more approvals needed (still pending)
  decided,          // the request left pending (approved or denied)
  already_voted,    // the same approver, the same way again: nothing changed (idempotent)
  conflict,         // no longer pending (already decided, expired, withdrawn, executed)
  self_approval,    // require_distinct_approver and the approver is the requesting user
};
const char* to_string(DecideResult r);

struct DecideRules {
  bool require_distinct_approver = true;
  std::int64_t validity_ms = 3600000;
};

/// Applies one vote at `now_ms` (pure). A deny decides at once; approvals decide when
/// `approvals_required` distinct approvers agree. Expired pending requests are expired first.
DecideResult apply_vote(ApprovalRequest& r, const Vote& vote, const DecideRules& rules, std::int64_t now_ms);

/// pending past expires_ms → expired (pure); true if it changed.
bool expire_if_due(ApprovalRequest& r, std::int64_t now_ms);

/// The approver whose vote decided (the last vote), or "".
std::string decided_by(const ApprovalRequest& r);
/// The reason of the deciding vote, or "".
std::string decision_reason(const ApprovalRequest& r);

}  // namespace schemagate::proxy::approvals
