#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "protocol/backend.h"
#include "proxy/client_request.h"
#include "proxy/session_state.h"

#include "config/policy_model.h"
#include "policy/facts.h"

namespace schemagate::policy {
struct Plan;
}

namespace schemagate::proxy {

/// Send the request to the server unchanged (after `notices`, complete NoticeResponse
/// messages for the client, if any).
struct Forward {
  std::vector<std::byte> notices;
  /// Set when the request changes the session's lock_timeout (SET/RESET lock_timeout).
  std::optional<bool> lock_timeout_set;
};
/// Answer the client ourselves; the server never sees the request. `messages` are complete
/// backend messages (ErrorResponse, NoticeResponse, ...); the session adds the ReadyForQuery
/// (or skips to the client's Sync after a Flush) so the client stays in sync.
struct Respond {
  std::vector<std::byte> messages;
};
/// Execute a phased plan instead of the request.
struct RunPlan {
  std::shared_ptr<const policy::Plan> plan;  // never null
  std::string command_tag;  // the original statement's tag, e.g. "CREATE INDEX"
  std::string announcement;  // first NOTICE: "schemagate: CREATE INDEX rewritten by rule … (1 phase)"
  std::string statement;     // the client's statement text (journal, resume)
};
/// Park the request until an approver decides (proxy/session_hold.cc), then run it: through
/// `plan` when it has one, else as written.
struct Hold {
  std::string statement;    // the statement's own text
  std::string normalized;   // constants replaced by $n (for display and grouping)
  std::string canonical;    // policy::canonical_statement: the approval key is its hash
  std::string fingerprint;  // libpg_query fingerprint, hex
  std::string command_tag;  // e.g. "DROP TABLE"
  std::string rule_id;      // the rule that asked for the hold
  std::string message, detail, hint;
  std::string rules_json;   // every matching rule: [{"id","action","message","detail","hint"}]
  std::string facts_json;   // what the engine knew: lock, rewrite, scan, tables
  std::vector<policy::QualifiedName> tables;  // existing tables it names (for evidence)
  std::shared_ptr<const policy::Plan> plan;   // run after approval; null: forward as written
  std::string plan_announcement;              // first NOTICE of that plan
};
/// The decision needs facts from the live database: the session reads them for these tables
/// through the client's own connection, then asks again with them.
struct NeedFacts {
  std::vector<policy::QualifiedName> tables;
  bool identity = false;  // also read current_user and its memberships (scopes match on roles)
};
using Verdict = std::variant<Forward, Respond, RunPlan, Hold, NeedFacts>;

/// One schema-changing statement as the policy judged it: what metrics and the audit log
/// record, whatever the verdict does with it.
struct Judgement {
  std::string command_tag;  // "CREATE INDEX"
  std::string normalized;   // constants replaced by $n
  std::string fingerprint;  // libpg_query fingerprint, hex
  config::RuleAction outcome = config::RuleAction::pass;
  bool enforced = true;     // false: observe mode, forwarded whatever the outcome
  std::string rule;         // the rule that decided it ("default_action" when none did)
  std::vector<std::string> matched;  // every rule that matched
  std::string message;      // the client's message for a non-pass outcome
  std::string scope;        // policy scope that applied ("" = global)
  bool exclusive_lock = false;  // takes ACCESS EXCLUSIVE on an existing table (SessionState::exclusive_lock_held)
};
/// What on_request looked at, beside its verdict.
struct Judged {
  bool parsed = false;  // some SQL went past the pre-classifier (false: the fast path)
  std::vector<Judgement> statements;
};

/// The seam where statement policy plugs into the proxy: called once per complete client
/// request that carries SQL (Query or Parse), first with `facts` null; if it answers
/// NeedFacts, again with the facts read from the database. Implementations are shared by all
/// sessions and called concurrently from several threads: `on_request` must be thread-safe.
/// `judged` is reset and filled on every call.
struct InterceptorStats {
  std::uint64_t parse_cache_hits = 0, parse_cache_misses = 0;
};

class Interceptor {
 public:
  virtual ~Interceptor() = default;
  /// Counters it keeps itself (for /metrics); read from any thread.
  virtual InterceptorStats stats() const { return {}; }
  virtual Verdict on_request(const RequestView& request, const SessionState& session,
                             const policy::CatalogFacts* facts, Judged& judged) const = 0;
};

/// Everything passes (no policy).
class ForwardAll final : public Interceptor {
 public:
  Verdict on_request(const RequestView&, const SessionState&, const policy::CatalogFacts*,
                     Judged& judged) const override {
    judged = {};
    return Forward{};
  }
};

/// A statement the client prepared (Parse) that the proxy answered for instead of the server,
/// because its policy verdict was a rewrite or a hold: the server never saw it, so the Bind,
/// Describe and Close messages that name it later are the proxy's to answer (session_deferred.cc).
struct DeferredStatement {
  std::string sql;
  std::vector<std::uint32_t> param_types;
};

/// What synthesize_plan_replies saw in the request, beside the replies.
struct PlanRequestShape {
  bool executes = false;                 // the statement runs in this request (Query, or Execute)
  std::optional<std::string> prepared;   // the name its Parse gave the statement ("" = unnamed)
  DeferredStatement statement;           // that Parse's text and parameter types
};

/// The replies the server would send for `request` (Parse, Bind, Describe, Execute, Close,
/// Sync, Flush around one rewritten statement, or one Query) if that statement had completed
/// with `command_tag` — or, when nothing in it executes the statement, had only been prepared —
/// without the ReadyForQuery (the session adds it with the status it has then). Frames before
/// `first_frame` count as part of the request but get no reply (a Parse the proxy put in front
/// of a later Bind, see DeferredStatement). False, with `why_not`, when the request has a shape
/// the proxy cannot answer for: more than one statement, a portal bound now and executed by a
/// later message, or a message it does not model.
bool synthesize_plan_replies(const RequestView& request, const std::string& command_tag, std::vector<std::byte>& out,
                             std::string& why_not, PlanRequestShape* shape = nullptr, std::size_t first_frame = 0);

/// Builds a Respond carrying one ErrorResponse (severity ERROR).
Respond respond_error(std::string sqlstate, std::string message, std::string detail = {}, std::string hint = {});

}  // namespace schemagate::proxy
