#pragma once
// Where approval requests live. One interface, two backends: SQLite (the state.path file; one
// host) and PostgreSQL (a schema of its own; shared by every replica). Thread-safe; every call
// either does what it says or returns false / nullopt with `error` set (never throws); a read
// that finds nothing returns nullopt with `error` cleared.
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/model.h"
#include "proxy/approvals/request.h"

namespace schemagate::proxy::approvals {

class RequestStore {
 public:
  virtual ~RequestStore() = default;

  /// Stores a new request (its id, times and status set by the caller).
  virtual bool create(const ApprovalRequest& r, std::string& error) = 0;
  virtual std::optional<ApprovalRequest> get(const std::string& id, std::string& error) = 0;
  /// Newest first; `status` nullopt = all; at most `limit` (0 = all).
  virtual std::vector<ApprovalRequest> list(std::optional<RequestStatus> status, std::size_t limit,
                                            std::string& error) = 0;
  /// Atomic read-modify-write of one request across every process sharing the store: loads
  /// it, calls `change` (which returns true if it modified the request), writes it back if so.
  /// `after` receives the request as stored afterwards. nullopt result: not found or error.
  virtual std::optional<bool> update(const std::string& id, const std::function<bool(ApprovalRequest&)>& change,
                                     ApprovalRequest& after, std::string& error) = 0;
  /// The newest approved request for this statement hash, user and database whose
  /// valid_until_ms is still ahead of `now_ms` (a resend after SG003), or nullopt.
  virtual std::optional<ApprovalRequest> find_approved(const std::string& statement_hash, const std::string& user,
                                                       const std::string& database, std::int64_t now_ms,
                                                       std::string& error) = 0;
  /// The newest pending request for the same key (a resend while it is still pending), or nullopt.
  virtual std::optional<ApprovalRequest> find_pending(const std::string& statement_hash, const std::string& user,
                                                      const std::string& database, std::string& error) = 0;
  /// Moves every pending request past its expires_ms to expired; returns them (for the audit log).
  virtual std::vector<ApprovalRequest> expire_due(std::int64_t now_ms, std::string& error) = 0;

  /// Backends that can push changes made by other processes (PostgreSQL LISTEN/NOTIFY) call
  /// `on_change(id)` from a thread of their own after each change; others never call it (the
  /// registry polls). Set once, before the first change.
  virtual void set_change_listener(std::function<void(const std::string& id)> on_change) { (void)on_change; }
  /// True when set_change_listener delivers changes from other processes.
  virtual bool pushes_changes() const { return false; }
};

/// The SQLite backend: a file of its own (approvals.store.path; ":memory:" allowed).
std::unique_ptr<RequestStore> open_sqlite_request_store(const std::string& path, std::string& error);
/// The PostgreSQL backend: connects with `dsn`, creates/migrates `schema`, LISTENs for changes.
std::unique_ptr<RequestStore> open_postgres_request_store(const config::ApprovalStore& cfg, std::string& error);
/// The backend the configuration names (approvals.store); errors name the config key.
std::unique_ptr<RequestStore> open_request_store(const config::Config& cfg, std::string& error);

}  // namespace schemagate::proxy::approvals
