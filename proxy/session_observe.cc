// Session: what it reports about the statements it judged — metrics and audit lines — and
// picking up a reloaded configuration between requests.
#include <spdlog/spdlog.h>

#include "protocol/backend.h"
#include "protocol/tags.h"
#include "proxy/session.h"

namespace schemagate::proxy {

namespace {

Counter outcome_counter(config::RuleAction a) {
  switch (a) {
    case config::RuleAction::pass: return Counter::statements_pass;
    case config::RuleAction::warn: return Counter::statements_warn;
    case config::RuleAction::rewrite: return Counter::statements_rewrite;
    case config::RuleAction::hold: return Counter::statements_hold;
    case config::RuleAction::reject: return Counter::statements_reject;
  }
  return Counter::statements_pass;
}

/// What the proxy does with a statement, as the audit log says it: the verdict's kind.
std::string action_of(const Verdict& v, const Judgement& j) {
  if (!j.enforced) return "forwarded (observe)";
  if (std::holds_alternative<RunPlan>(v)) return "rewritten";
  if (std::holds_alternative<Hold>(v)) return "held";
  if (std::holds_alternative<Respond>(v)) return "refused";
  return "forwarded";
}

}  // namespace

AuditSession Session::audit_session() const {
  return AuditSession{state_.id, state_.user, state_.database, state_.client_addr, state_.application_name};
}

bool Session::record_judgements(const Verdict& verdict) {
  if (judged_.statements.empty()) return true;
  auto& m = *ctx_->metrics;
  auto& audit = *ctx_->audit;
  const auto who = audit_session();
  bool written = true;
  for (const auto& j : judged_.statements) {
    m.add(outcome_counter(j.outcome));
    if (!j.enforced) m.add(Counter::statements_observed);
    for (const auto& rule : j.matched) m.count_rule(rule);
    if (!audit.decision(who, j, action_of(verdict, j))) {
      m.add(Counter::audit_failures);
      written = false;
    }
  }
  judged_.statements.clear();
  // Fail closed only where something would change the schema: a refusal is safe to send.
  if (written || !audit.fail_closed() || std::holds_alternative<Respond>(verdict)) return true;
  spdlog::error("[{}] audit log cannot be written: refusing the request (audit.fail_closed)", state_.id);
  return false;
}

void Session::count_errors(std::span<const std::byte> messages) {
  // Complete backend messages the proxy built itself: tag, length, body.
  std::size_t at = 0;
  while (at + 5 <= messages.size()) {
    const char tag = static_cast<char>(messages[at]);
    std::uint32_t len = 0;
    for (int i = 1; i <= 4; ++i) len = (len << 8) | static_cast<std::uint8_t>(messages[at + i]);
    if (len < 4 || at + 1 + len > messages.size()) return;
    if (tag == protocol::tag::kErrorResponse) {
      const protocol::Frame f{tag, messages.subspan(at + 5, len - 4), 1 + len};
      ctx_->metrics->count_error(protocol::error_sqlstate(f));
    }
    at += 1 + len;
  }
}

void Session::refresh_context() {
  auto* source = ctx_->source;
  if (source == nullptr) return;
  const auto gen = source->generation();
  if (gen == ctx_generation_) return;
  ctx_generation_ = gen;
  // Safe between requests: the services every coroutine of this session may be using
  // (metrics, audit, journal, approvals, cancels) are the same objects in every generation.
  ctx_ = source->current();
}

}  // namespace schemagate::proxy
