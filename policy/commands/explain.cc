#include "policy/commands/explain.h"

#include <ostream>

#include "policy/commands/output.h"
#include "policy/engine.h"

namespace schemagate::policy {

namespace {

const char* usage() {
  return "usage: schemagate explain [--config F | --policy F] [--format text|json] [--pg-version N] "
         "[--in-transaction] [--table-rows N] [--assume-large-tables] [--user U] \"SQL\"\n";
}

}  // namespace

void commands::print_decision_text(const BatchDecision& d, const config::Policy& policy, std::ostream& out) {
  out << "mode: " << config::to_string(policy.mode) << (d.enforced ? "" : " (decisions are logged, not enforced)")
      << "\n";
  if (d.fast_path) {
    out << "outcome: pass (ordinary statements only; not parsed)\n";
    return;
  }
  out << "outcome: " << outcome_name(d.outcome) << "\n";
  if (d.syntax_error)
    out << "syntax error at line " << d.syntax_error->pos.line << ", column " << d.syntax_error->pos.column << ": "
        << d.syntax_error->message << "\n";
  for (const auto& sd : d.statements) {
    const auto& s = sd.statement;
    out << "\nstatement " << s.index + 1 << " (line " << s.pos.line << ", column " << s.pos.column << "): " << s.text
        << "\n";
    out << "  kind:    " << s.operation << " [" << class_name(s.klass) << "]";
    if (s.lock != LockLevel::none) out << ", lock " << lock_name(s.lock);
    if (s.rewrites_table) out << ", rewrites table";
    if (s.scans_table) out << ", scans table";
    if (!s.allowed_in_transaction) out << ", not in a transaction block";
    out << "\n";
    for (const auto& o : s.objects)
      out << "  object:  " << o.kind << " " << o.display() << (o.created ? " (created)" : "") << ", lock "
          << lock_name(o.lock) << "\n";
    out << "  outcome: " << outcome_name(sd.outcome);
    if (!sd.rule_ids.empty()) {
      out << " (rule";
      for (const auto& r : sd.rule_ids) out << " " << r;
      out << ")";
    }
    if (!sd.scope.empty()) out << " [scope " << sd.scope << "]";
    if (!sd.sqlstate.empty()) out << " SQLSTATE " << sd.sqlstate;
    out << "\n";
    if (!sd.message.empty()) out << "  message: " << sd.message << "\n";
    if (!sd.detail.empty()) out << "  detail:  " << sd.detail << "\n";
    if (!sd.hint.empty()) out << "  hint:    " << sd.hint << "\n";
    for (const auto& f : sd.findings)
      out << "  finding: " << f.rule_id << " → " << outcome_name(f.action) << ": " << f.message << "\n";
    if (sd.syntax_error)
      out << "  syntax error at line " << sd.syntax_error->pos.line << ", column " << sd.syntax_error->pos.column
          << ": " << sd.syntax_error->message << "\n";
    if (sd.plan) {
      out << "  plan:    " << sd.plan->summary << "\n";
      const auto n = sd.plan->phases.size();
      for (std::size_t i = 0; i < n; ++i) {
        const auto& p = sd.plan->phases[i];
        out << "    phase " << i + 1 << "/" << n << ": " << p.description << " [" << phase_kind_name(p.kind);
        if (p.lock_timeout_ms) out << ", lock_timeout " << p.lock_timeout_ms << " ms";
        if (p.retry.max_attempts > 1) out << ", up to " << p.retry.max_attempts << " attempts";
        if (p.backfill) out << ", batches of " << p.backfill->batch_rows << " rows in key order";
        out << "]\n";
        if (!p.sql.empty()) out << "      " << p.sql << "\n";
        if (p.backfill)
          out << "      UPDATE " << p.backfill->table << " SET " << p.backfill->column << " = " << p.backfill->value
              << " … (one transaction per batch)\n";
        if (!p.cleanup_sql.empty()) out << "      on failure: " << p.cleanup_sql << "\n";
      }
    }
  }
}

int run_explain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  commands::CommonOptions opts;
  std::string error;
  if (!commands::parse_common(args, true, opts, error)) {
    err << "schemagate explain: " << error << "\n" << usage();
    return 2;
  }
  if (opts.positional.size() != 1) {
    err << "schemagate explain: expected exactly one SQL argument\n" << usage();
    return 2;
  }
  std::vector<std::string> errors;
  auto policy = commands::load_policy(opts, errors);
  if (!policy) {
    for (const auto& e : errors) err << "schemagate explain: " << e << "\n";
    return 2;
  }
  PolicyEngine engine(*policy);
  OfflineFacts facts(opts.facts);
  SessionInfo session;
  session.user = opts.user;
  session.database = opts.database;
  session.application_name = opts.application_name;
  session.server_version_num = opts.facts.server_version_num;
  session.tx_status = opts.in_transaction ? 'T' : 'I';
  const std::string& sql = opts.positional.front();
  if (sql.find('\0') != std::string::npos) {
    err << "schemagate explain: SQL contains a NUL byte\n";
    return 2;
  }
  const BatchDecision d = engine.evaluate(sql, session, &facts);
  if (opts.format == "json") out << commands::decision_json(d, *policy, 2) << "\n";
  else commands::print_decision_text(d, *policy, out);
  return 0;
}

}  // namespace schemagate::policy
