#pragma once
// The audit log: one JSON object per line, apart from the diagnostic log, for every DDL
// decision, every plan (and each of its phases) and every approval transition. Sessions, the
// plan coroutine and the approvals service hand it structured events; it adds the time and
// writes the line whole (one write per line, flushed), so that concurrent writers never
// interleave within a line and a reader tailing the file sees complete lines.
//
// Writes happen on the thread that has the event — an I/O thread for decisions and plans —
// and cost one write(2) to the page cache: only schema-changing statements are audited, never
// the forwarding path.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/model.h"
#include "proxy/interceptor.h"
#include "proxy/plan_runner.h"

namespace schemagate::proxy {

namespace approvals {
struct ApprovalRequest;
struct Vote;
}  // namespace approvals

/// Who a session is, for audit lines.
struct AuditSession {
  std::uint64_t id = 0;
  std::string user, database, client_addr, application_name;
};

class AuditLog {
 public:
  /// Opens `cfg.path` for appending ("-": stdout). Empty path: a log that writes nothing and
  /// never fails. Fails (with `error`) when the file cannot be opened.
  static std::unique_ptr<AuditLog> open(const config::Audit& cfg, std::string& error);
  ~AuditLog();

  bool enabled() const { return enabled_; }
  bool fail_closed() const { return fail_closed_; }
  const std::string& path() const { return path_; }

  /// Each returns false when the line could not be written (logged and counted by the caller).
  bool decision(const AuditSession& s, const Judgement& j, const std::string& action);
  bool plan_started(const AuditSession& s, const std::string& plan_id, const std::string& rule_id,
                    const std::string& command_tag, const std::string& statement, std::size_t phases);
  bool plan_phase(const AuditSession& s, const std::string& plan_id, const PhaseRecord& phase);
  bool plan_finished(const AuditSession& s, const std::string& plan_id, const std::string& status,
                     std::int64_t duration_ms, const std::string& error);
  /// `event`: created, voted, approved, denied, expired, withdrawn, executed, failed.
  bool approval(const approvals::ApprovalRequest& r, const std::string& event, const approvals::Vote* vote);

  /// Reopens the file (after logrotate moved it; on reload). False, with `error`, when it
  /// cannot be opened: the old descriptor stays.
  bool reopen(std::string& error);
  /// False while the last write failed (readiness and fail_closed read it).
  bool healthy() const;

 private:
  AuditLog() = default;
  bool write_line(std::string line);

  bool enabled_ = false;
  bool fail_closed_ = false;
  std::string path_;
  mutable std::mutex mu_;
  int fd_ = -1;
  bool owns_fd_ = false;
  bool healthy_ = true;
};

}  // namespace schemagate::proxy
