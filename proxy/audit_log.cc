#include "proxy/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "proxy/approvals/request.h"

namespace schemagate::proxy {
namespace {

using json = nlohmann::json;

/// RFC 3339 in UTC with milliseconds: what log shippers parse without configuration.
std::string now_rfc3339() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000));
  return buf;
}

json session_fields(const AuditSession& s) {
  return {{"session", s.id},
          {"user", s.user},
          {"database", s.database},
          {"client_addr", s.client_addr},
          {"application_name", s.application_name}};
}

/// Every session event starts the same way: when, what, who.
json session_event(const char* event, const AuditSession& s) {
  json e = {{"time", now_rfc3339()}, {"event", event}};
  e.update(session_fields(s));
  return e;
}

std::string line_of(const json& e) { return e.dump(-1, ' ', false, json::error_handler_t::replace); }

int open_append(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

}  // namespace

std::unique_ptr<AuditLog> AuditLog::open(const config::Audit& cfg, std::string& error) {
  std::unique_ptr<AuditLog> log(new AuditLog());
  log->fail_closed_ = cfg.fail_closed;
  log->path_ = cfg.path;
  if (cfg.path.empty()) return log;
  log->enabled_ = true;
  if (cfg.path == "-") {
    log->fd_ = STDOUT_FILENO;
    return log;
  }
  log->fd_ = open_append(cfg.path);
  if (log->fd_ < 0) {
    error = "audit.path: cannot open '" + cfg.path + "' for appending: " + std::strerror(errno);
    return nullptr;
  }
  log->owns_fd_ = true;
  return log;
}

AuditLog::~AuditLog() {
  if (owns_fd_ && fd_ >= 0) ::close(fd_);
}

bool AuditLog::reopen(std::string& error) {
  if (!enabled_ || !owns_fd_) return true;
  const int fd = open_append(path_);
  if (fd < 0) {
    error = "audit.path: cannot open '" + path_ + "' for appending: " + std::strerror(errno);
    return false;
  }
  std::lock_guard lock(mu_);
  ::close(fd_);
  fd_ = fd;
  healthy_ = true;
  return true;
}

bool AuditLog::healthy() const {
  std::lock_guard lock(mu_);
  return healthy_;
}

bool AuditLog::write_line(std::string line) {
  if (!enabled_) return true;
  line += '\n';
  std::lock_guard lock(mu_);
  // One write(2) per line on an O_APPEND descriptor: lines from several proxies sharing the
  // file do not interleave. A short write (a full disk) is a failure; the rest is not retried
  // so that a half line is never completed by another event's bytes.
  std::size_t done = 0;
  while (done < line.size()) {
    const auto n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (healthy_) spdlog::error("audit log {}: write failed: {}", path_, std::strerror(n < 0 ? errno : ENOSPC));
      healthy_ = false;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  if (!healthy_) spdlog::info("audit log {}: writing again", path_);
  healthy_ = true;
  return true;
}

bool AuditLog::decision(const AuditSession& s, const Judgement& j, const std::string& action) {
  if (!enabled_) return true;
  json e = session_event("decision", s);
  e.update({{"command_tag", j.command_tag},
            {"statement", j.normalized},
            {"fingerprint", j.fingerprint},
            {"outcome", config::to_string(j.outcome)},
            {"enforced", j.enforced},
            {"action", action},
            {"rule", j.rule},
            {"rules", j.matched},
            {"scope", j.scope}});
  if (!j.message.empty()) e["message"] = j.message;
  return write_line(line_of(e));
}

bool AuditLog::plan_started(const AuditSession& s, const std::string& plan_id, const std::string& rule_id,
                            const std::string& command_tag, const std::string& statement, std::size_t phases) {
  if (!enabled_) return true;
  json e = session_event("plan_started", s);
  e.update({{"plan", plan_id}, {"rule", rule_id}, {"command_tag", command_tag}, {"statement", statement},
            {"phases", phases}});
  return write_line(line_of(e));
}

bool AuditLog::plan_phase(const AuditSession& s, const std::string& plan_id, const PhaseRecord& p) {
  if (!enabled_) return true;
  json e = session_event("plan_phase", s);
  e.update({{"plan", plan_id},
            {"phase", p.index + 1},
            {"description", p.description},
            {"result", p.ok ? "succeeded" : "failed"},
            {"duration_ms", p.duration_ms},
            {"attempts", p.attempts},
            {"rows", p.rows}});
  if (!p.sqlstate.empty()) e["sqlstate"] = p.sqlstate;
  return write_line(line_of(e));
}

bool AuditLog::plan_finished(const AuditSession& s, const std::string& plan_id, const std::string& status,
                             std::int64_t duration_ms, const std::string& error) {
  if (!enabled_) return true;
  json e = session_event("plan_finished", s);
  e.update({{"plan", plan_id}, {"status", status}, {"duration_ms", duration_ms}});
  if (!error.empty()) e["error"] = error;
  return write_line(line_of(e));
}

bool AuditLog::approval(const approvals::ApprovalRequest& r, const std::string& event, const approvals::Vote* vote) {
  if (!enabled_) return true;
  json e = {{"time", now_rfc3339()},
            {"event", "approval_" + event},
            {"request", r.id},
            {"status", approvals::to_string(r.status)},
            {"user", r.user},
            {"database", r.database},
            {"client_addr", r.client_addr},
            {"application_name", r.application_name},
            {"command_tag", r.command_tag},
            {"statement", r.normalized},
            {"fingerprint", r.fingerprint},
            {"rule", r.rule_id}};
  json approvers = json::array();
  for (const auto& v : r.votes)
    approvers.push_back({{"approver", v.approver}, {"approve", v.approve}, {"reason", v.reason}});
  e["votes"] = std::move(approvers);
  if (vote) e["by"] = {{"approver", vote->approver}, {"approve", vote->approve}, {"reason", vote->reason}};
  if (!r.outcome.empty()) e["outcome"] = r.outcome;
  return write_line(line_of(e));
}

}  // namespace schemagate::proxy
