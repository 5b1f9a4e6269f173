#include "proxy/console/console.h"

#include <chrono>
#include <ctime>
#include <optional>

#include <spdlog/spdlog.h>

#include "protocol/backend.h"
#include "proxy/console/command.h"
#include "proxy/server_control.h"
#include "proxy/session_context.h"
#include "proxy/utc_time.h"

namespace schemagate::proxy::console {

namespace {

using Cell = std::optional<std::string>;
using Row = std::vector<Cell>;

/// One command's answer: a result set (columns may be empty: a bare command tag), or an error.
struct Reply {
  std::vector<std::string> columns;
  std::vector<Row> rows;
  std::string tag;
  std::optional<protocol::ErrorFields> error;
};

Reply error_reply(const char* sqlstate, std::string message, std::string hint = {}) {
  Reply r;
  r.error = protocol::ErrorFields{"ERROR", sqlstate, std::move(message), {}, std::move(hint)};
  return r;
}

Reply table(std::vector<std::string> columns) {
  Reply r;
  r.columns = std::move(columns);
  return r;
}

std::string format_time(std::int64_t ms) { return utc_time_text(ms, ' ', ""); }

Cell time_cell(std::int64_t ms) {
  if (ms <= 0) return std::nullopt;
  return format_time(ms);
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char* yes_no(bool b) { return b ? "yes" : "no"; }

// ------------------------------------------------------------------------------- SHOW commands

Reply show_help() {
  auto r = table({"command", "what it does"});
  const char* kHelp[][2] = {
      {"SHOW REQUESTS [status]", "approval requests, newest first (status: pending, approved, denied, ...)"},
      {"SHOW REQUEST 'id'", "one approval request: statement, rules, evidence, votes"},
      {"SHOW MIGRATIONS", "rewrite plans in the journal, newest first"},
      {"SHOW CLIENTS", "client connections"},
      {"SHOW SERVERS", "server connections"},
      {"SHOW STATS", "counters and gauges (as /metrics)"},
      {"SHOW CONFIG", "the running configuration (no secrets)"},
      {"SHOW VERSION", "schemagate's version"},
      {"APPROVE 'id' [REASON '...']", "approve a held statement as this database user"},
      {"DENY 'id' REASON '...'", "deny a held statement"},
      {"RELOAD", "reload the configuration and the policy (as SIGHUP)"},
      {"PAUSE", "refuse new schema changes (SG001) until RESUME"},
      {"RESUME", "accept schema changes again"}};
  for (const auto& h : kHelp) r.rows.push_back({std::string(h[0]), std::string(h[1])});
  return r;
}

Reply show_requests(const Caller& c, const std::string& status_text) {
  auto* service = c.ctx.approvals.get();
  if (service == nullptr) return error_reply("55000", "approvals are not configured on this proxy");
  std::optional<approvals::RequestStatus> status;
  if (!status_text.empty()) {
    status = approvals::parse_request_status(status_text);
    if (!status)
      return error_reply("22023", "unknown request status \"" + status_text + "\"",
                         "one of: pending, approved, denied, expired, withdrawn, executed, failed");
  }
  std::string error;
  const auto list = service->list(status, 100, error);
  if (!error.empty()) return error_reply("58000", "the approvals store failed: " + error);
  auto r = table({"id", "status", "user", "database", "rule", "command", "votes", "created", "expires", "statement"});
  for (const auto& q : list) {
    int approvals = 0;
    for (const auto& v : q.votes) approvals += v.approve ? 1 : 0;
    r.rows.push_back({q.id, std::string(approvals::to_string(q.status)), q.user, q.database, q.rule_id,
                      q.command_tag, std::to_string(approvals) + "/" + std::to_string(q.approvals_required),
                      time_cell(q.created_ms), time_cell(q.expires_ms), q.normalized.empty() ? q.statement : q.normalized});
  }
  return r;
}

Reply show_request(const Caller& c, const std::string& id) {
  auto* service = c.ctx.approvals.get();
  if (service == nullptr) return error_reply("55000", "approvals are not configured on this proxy");
  if (!approvals::valid_request_id(id)) return error_reply("42704", "no such request: " + id);
  std::string error;
  const auto q = service->get(id, error);
  if (!error.empty()) return error_reply("58000", "the approvals store failed: " + error);
  if (!q) return error_reply("42704", "no such request: " + id);
  auto r = table({"field", "value"});
  auto add = [&r](const char* k, Cell v) { r.rows.push_back({std::string(k), std::move(v)}); };
  add("id", q->id);
  add("status", std::string(approvals::to_string(q->status)));
  add("statement", q->statement);
  add("normalized", q->normalized);
  add("fingerprint", q->fingerprint);
  add("command", q->command_tag);
  add("user", q->user);
  add("database", q->database);
  add("client_addr", q->client_addr);
  add("application_name", q->application_name);
  add("rule", q->rule_id);
  add("rules", q->rules_json);
  add("facts", q->facts_json);
  add("plan", q->plan_json.empty() ? Cell() : Cell(q->plan_json));
  add("evidence", q->evidence_json.empty() ? Cell() : Cell(q->evidence_json));
  add("in_transaction", std::string(yes_no(q->in_transaction)));
  add("approvals_required", std::to_string(q->approvals_required));
  for (const auto& v : q->votes) {
    std::string text = v.approver + (v.approve ? " approved" : " denied") + " at " + format_time(v.at_ms);
    if (!v.reason.empty()) text += ": " + v.reason;
    add("vote", std::move(text));
  }
  add("created", time_cell(q->created_ms));
  add("expires", time_cell(q->expires_ms));
  add("decided", time_cell(q->decided_ms));
  add("valid_until", time_cell(q->valid_until_ms));
  add("finished", time_cell(q->finished_ms));
  add("outcome", q->outcome.empty() ? Cell() : Cell(q->outcome));
  return r;
}

Reply show_migrations(const Caller& c) {
  if (!c.ctx.store) return error_reply("55000", "the plan journal is not open");
  std::string error;
  const auto list = c.ctx.store->list(100, error);
  if (!error.empty()) return error_reply("58000", "the plan journal failed: " + error);
  auto r = table({"id", "status", "user", "database", "rule", "phases", "rows_backfilled", "created", "updated",
                  "error", "statement"});
  for (const auto& e : list) {
    r.rows.push_back({e.id, std::string(to_string(e.status)), e.user, e.database, e.rule_id,
                      std::to_string(e.phases_done) + "/" + std::to_string(e.phase_count),
                      std::to_string(e.rows_backfilled), time_cell(e.created_ms), time_cell(e.updated_ms),
                      e.error.empty() ? Cell() : Cell(e.error), e.statement});
  }
  return r;
}

Reply show_clients(const Caller& c) {
  if (c.control == nullptr) return error_reply("55000", "no server to ask");
  auto r = table({"id", "user", "database", "application_name", "client_addr", "tls", "state", "tx", "connected",
                  "idle_s"});
  for (const auto& s : c.control->sessions()) {
    r.rows.push_back({std::to_string(s.id), s.user, s.database, s.application_name, s.client_addr,
                      std::string(yes_no(s.client_tls)), s.stage, std::string(1, s.tx_status),
                      time_cell(s.connected_ms), std::to_string(s.idle_ms / 1000)});
  }
  return r;
}

Reply show_servers(const Caller& c) {
  if (c.control == nullptr) return error_reply("55000", "no server to ask");
  auto r = table({"session", "server_pid", "user", "database", "upstream", "tls", "state", "tx"});
  const auto upstream = c.ctx.config->upstream.describe();
  for (const auto& s : c.control->sessions()) {
    if (s.console || s.server_pid == 0) continue;  // a console session keeps no server connection
    r.rows.push_back({std::to_string(s.id), std::to_string(s.server_pid), s.user, s.database, upstream,
                      std::string(yes_no(s.server_tls)), s.stage, std::string(1, s.tx_status)});
  }
  return r;
}

Reply show_stats(const Caller& c) {
  auto r = table({"name", "value"});
  const auto& m = *c.ctx.metrics;
  // The same names and labels as /metrics, without the schemagate_ prefix.
#define SG_ROW(id, name, labels, help)                                                                  \
  r.rows.push_back({std::string(name) + (std::string_view(labels).empty() ? "" : "{" labels "}"), \
                    std::to_string(m.total(Counter::id))});
  SG_METRIC_COUNTERS(SG_ROW)
#undef SG_ROW
  r.rows.push_back({std::string("client_connections_open"), std::to_string(c.ctx.live->clients.load())});
  r.rows.push_back({std::string("server_connections_open"), std::to_string(c.ctx.live->servers.load())});
  if (c.control != nullptr) {
    r.rows.push_back({std::string("ddl_paused"), std::string(c.control->ddl_paused() ? "1" : "0")});
    r.rows.push_back({std::string("draining"), std::string(c.control->draining() ? "1" : "0")});
  }
  return r;
}

Reply show_config(const Caller& c) {
  const auto& cfg = *c.ctx.config;
  auto r = table({"key", "value", "reload"});
  auto add = [&r](const char* key, std::string value, bool restart) {
    r.rows.push_back({std::string(key), std::move(value), std::string(restart ? "restart" : "yes")});
  };
  auto u = [](auto n) { return std::to_string(n); };
  add("listen.address", cfg.listen.address, true);
  add("listen.port", u(cfg.listen.port), true);
  add("listen.unix_socket_dir", cfg.listen.unix_socket_dir, true);
  add("listen.tls.cert_file", cfg.listen.tls.cert_file, false);
  add("listen.tls.require", yes_no(cfg.listen.tls.require), false);
  add("upstream", cfg.upstream.describe(), false);
  add("upstream.tls.mode", config::to_string(cfg.upstream.tls.mode), false);
  add("upstream.connect_timeout_ms", u(cfg.upstream.connect_timeout_ms), false);
  add("limits.max_client_connections", u(cfg.limits.max_client_connections), false);
  add("limits.max_message_bytes", u(cfg.limits.max_message_bytes), true);
  add("limits.startup_timeout_ms", u(cfg.limits.startup_timeout_ms), false);
  add("limits.client_idle_timeout_ms", u(cfg.limits.client_idle_timeout_ms), false);
  add("limits.shutdown_grace_ms", u(cfg.limits.shutdown_grace_ms), false);
  add("workers", u(cfg.workers), true);
  add("io.busy_poll_us", u(cfg.io.busy_poll_us), true);
  add("log.level", cfg.log.level, false);
  add("log.format", cfg.log.json ? "json" : "text", true);
  add("audit.path", cfg.audit.path, false);
  add("audit.fail_closed", yes_no(cfg.audit.fail_closed), false);
  add("policy.file", cfg.policy.file, false);
  add("policy.mode", cfg.policy.mode ? config::to_string(*cfg.policy.mode) : "", false);
  add("state.path", cfg.state.path, true);
  add("admin.address", cfg.admin.address, true);
  add("admin.port", u(cfg.admin.port), true);
  add("admin.tokens", u(cfg.admin.tokens.size()) + " approver(s)", true);
  std::string users;
  for (const auto& name : cfg.admin.users) users += (users.empty() ? "" : ",") + name;
  add("admin.users", users, true);
  add("admin.console_database", cfg.admin.console_database, true);
  add("approvals.wait_ms", u(cfg.approvals.wait_ms), true);
  add("approvals.wait_in_transaction_ms", u(cfg.approvals.wait_in_transaction_ms), true);
  add("approvals.approvals_required", u(cfg.approvals.approvals_required), true);
  add("approvals.webhooks", u(cfg.approvals.webhooks.size()), true);
  return r;
}

// ------------------------------------------------------------------------------- actions

Reply decide(const Caller& c, const Command& cmd) {
  auto* service = c.ctx.approvals.get();
  if (service == nullptr) return error_reply("55000", "approvals are not configured on this proxy");
  if (!approvals::valid_request_id(cmd.argument)) return error_reply("42704", "no such request: " + cmd.argument);
  approvals::Vote vote;
  vote.approver = c.user;
  vote.approve = cmd.verb == Verb::approve;
  vote.reason = cmd.reason;
  vote.at_ms = wall_ms();
  const auto outcome = service->vote(cmd.argument, vote);
  if (outcome.store_error) return error_reply("58000", "the approvals store failed: " + outcome.error);
  if (!outcome.found) return error_reply("42704", "no such request: " + cmd.argument);
  using approvals::DecideResult;
  switch (outcome.result) {
    case DecideResult::self_approval:
      return error_reply("42501", "approvers cannot approve a request made under their own database user",
                         "approvals.require_distinct_approver is on: ask another admin user");
    case DecideResult::conflict:
      return error_reply("55000", "request " + cmd.argument + " is no longer pending (it is " +
                                      approvals::to_string(outcome.request.status) + ")");
    case DecideResult::recorded:
    case DecideResult::decided:
    case DecideResult::already_voted:
      break;
  }
  spdlog::info("admin console: {} {} request {}", c.user, vote.approve ? "approved" : "denied", cmd.argument);
  auto r = table({"id", "status", "result"});
  r.rows.push_back({outcome.request.id, std::string(approvals::to_string(outcome.request.status)),
                    std::string(approvals::to_string(outcome.result))});
  r.tag = vote.approve ? "APPROVE" : "DENY";
  return r;
}

Reply reload(const Caller& c) {
  if (c.control == nullptr) return error_reply("55000", "no server to reload");
  std::string message;
  if (!c.control->reload(message)) return error_reply("F0000", "reload refused: " + message, "the running configuration stays");
  Reply r;
  r.tag = "RELOAD";
  if (!message.empty()) {
    r.columns = {"message"};
    r.rows.push_back({message});
  }
  return r;
}

Reply pause(const Caller& c, bool paused) {
  if (c.control == nullptr) return error_reply("55000", "no server to pause");
  const std::string by = c.user + " at " + format_time(wall_ms());
  c.control->set_ddl_paused(paused, by);
  spdlog::warn("admin console: {} {} new DDL", c.user, paused ? "paused" : "resumed");
  Reply r;
  r.tag = paused ? "PAUSE" : "RESUME";
  return r;
}

Reply run(const Command& cmd, const Caller& c) {
  switch (cmd.verb) {
    case Verb::show_requests: return show_requests(c, cmd.argument);
    case Verb::show_request: return show_request(c, cmd.argument);
    case Verb::show_migrations: return show_migrations(c);
    case Verb::show_clients: return show_clients(c);
    case Verb::show_servers: return show_servers(c);
    case Verb::show_stats: return show_stats(c);
    case Verb::show_config: return show_config(c);
    case Verb::show_version: {
      auto r = table({"version"});
      r.rows.push_back({std::string("schemagate " SG_VERSION)});
      return r;
    }
    case Verb::show_help: return show_help();
    case Verb::approve:
    case Verb::deny: return decide(c, cmd);
    case Verb::reload: return reload(c);
    case Verb::pause: return pause(c, true);
    case Verb::resume: return pause(c, false);
  }
  return error_reply("XX000", "unhandled console command");
}

}  // namespace

void run_query(std::string_view text, const Caller& caller, std::vector<std::byte>& out) {
  const auto script = parse_script(text);
  if (!script.error.empty()) {
    protocol::write_error_response(out, {"ERROR", "42601", "schemagate console: " + script.error, {}, {}});
    return;
  }
  if (script.commands.empty()) {
    protocol::write_empty_message(out, 'I');  // EmptyQueryResponse
    return;
  }
  for (const auto& cmd : script.commands) {
    Reply r;
    try {
      r = run(cmd, caller);
    } catch (const std::exception& e) {
      spdlog::error("admin console: command failed: {}", e.what());
      r = error_reply("XX000", std::string("internal error: ") + e.what());
    }
    if (r.error) {
      r.error->message = "schemagate console: " + r.error->message;
      protocol::write_error_response(out, *r.error);
      return;  // like PostgreSQL: an error ends the query's remaining commands
    }
    if (!r.columns.empty()) {
      protocol::write_text_row_description(out, r.columns);
      for (const auto& row : r.rows) protocol::write_text_data_row(out, row);
    }
    if (r.tag.empty()) r.tag = r.columns.empty() ? "OK" : "SHOW " + std::to_string(r.rows.size());
    protocol::write_command_complete(out, r.tag);
  }
}

}  // namespace schemagate::proxy::console
