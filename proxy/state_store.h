#pragma once
// The plan journal: every rewrite plan the proxy runs is recorded here, phase by phase, so that
// a plan cut short (client gone, proxy killed, database restarted) resumes from its first
// unfinished phase when the same user sends the same statement to the same database again.
// Backend-neutral: SQLite today (one file, shared by the proxies on a host and the CLI);
// a PostgreSQL backend implements the same interface for state shared across replicas.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace schemagate::proxy {

enum class PlanStatus { running, succeeded, failed, interrupted };

/// "running", "succeeded", "failed", "interrupted": the names stored and printed.
const char* to_string(PlanStatus s);
/// The inverse of to_string; nullopt for any other text.
std::optional<PlanStatus> parse_plan_status(std::string_view text);

/// Lower-case hex SHA-256 of a statement's text: the key a resumed plan is found by.
std::string statement_hash(std::string_view statement);

/// Who runs a journaled plan: host, process id, and a random token drawn when the store was
/// opened (a restarted proxy may get its old pid back; in a container it is pid 1 every time).
struct PlanOwner {
  std::string host;
  long pid = 0;
  std::string token;
  std::int64_t started_ms = 0;  // this_process() only: when this process first asked (not stored)

  std::string text() const;  // "host/pid/token", as stored
  static std::optional<PlanOwner> parse(std::string_view text);
  /// This process, with a fresh token (empty if the CSPRNG failed).
  static PlanOwner this_process();
  /// Whether the process this names, whose lease runs until `lease_until_ms`, has gone, as `self`
  /// can tell: on self's host, its pid no longer exists, or it is self's pid with another token
  /// and its lease was last renewed before self started (an earlier incarnation: in a container
  /// every start is pid 1). On another host nobody can tell: only the lease says.
  bool gone(const PlanOwner& self, std::int64_t lease_until_ms) const;
};

/// A running plan's lease: its owner renews it every kPlanLeaseRenewMs; one not renewed for
/// kPlanLeaseMs (or whose owner is gone) is abandoned and may be resumed by anyone.
inline constexpr std::int64_t kPlanLeaseMs = 60000;
inline constexpr std::int64_t kPlanLeaseRenewMs = 10000;

/// One journaled plan.
struct PlanJournalEntry {
  std::string id;              // assigned by begin_plan: 16 lower-case hex chars from a CSPRNG
  std::string statement_hash;  // statement_hash(statement), computed by the caller
  std::string user, database, client_addr, application_name;
  std::string statement;       // the client's statement text
  std::string rule_id;
  std::string plan_json;       // the plan as JSON text (opaque to the store)
  int phase_count = 0;
  int phases_done = 0;         // resume point: index of the first unfinished phase
  std::int64_t rows_backfilled = 0;
  std::string backfill_resume;  // opaque: where the running backfill got to (e.g. JSON of the last key)
  PlanStatus status = PlanStatus::running;
  std::string error;           // "SQLSTATE: message" of the failure, empty otherwise
  std::int64_t created_ms = 0, updated_ms = 0;  // wall clock, ms since the Unix epoch (set by the store)
  std::string owner;                // PlanOwner::text() of the process that runs (or last ran) it
  std::int64_t lease_until_ms = 0;  // running: abandoned once this has passed without a renewal
};

/// The journal. Thread-safe: called from several I/O threads at once. Every call either does
/// what it says or returns false / nullopt / empty / -1 with `error` set (never throws); a read
/// that finds nothing returns nullopt with `error` cleared.
class StateStore {
 public:
  virtual ~StateStore() = default;

  /// Records a new plan with status running; fills in `entry.id`, `created_ms`, `updated_ms`.
  virtual bool begin_plan(PlanJournalEntry& entry, std::string& error) = 0;
  /// Claims a plan for resuming — interrupted, or running but abandoned — under this store's
  /// lease, atomically, so that of two sessions resuming the same plan exactly one wins. False
  /// otherwise (a live owner still runs it, or it ended).
  virtual bool resume_plan(const std::string& id, std::string& error) = 0;
  /// Extends the lease of every running plan this store's process owns (call every
  /// kPlanLeaseRenewMs while plans run; a long CONCURRENTLY build records no progress for minutes).
  virtual bool renew_leases(std::string& error) = 0;
  /// A running entry whose lease has run out or whose owner is gone.
  virtual bool abandoned(const PlanJournalEntry& entry) const = 0;
  /// Phases [0, phases_done) are finished; the backfill position is reset with each phase.
  virtual bool record_phase_done(const std::string& id, int phases_done, std::string& error) = 0;
  /// Progress of the running backfill phase: rows so far (whole plan) and where to go on from.
  virtual bool record_backfill(const std::string& id, std::int64_t rows, const std::string& resume,
                               std::string& error) = 0;
  /// Ends a plan: succeeded, failed (with "SQLSTATE: message") or interrupted.
  virtual bool finish_plan(const std::string& id, PlanStatus status, const std::string& error_text,
                           std::string& error) = 0;
  /// The newest entry with status running or interrupted for this statement hash, user and database.
  virtual std::optional<PlanJournalEntry> find_resumable(const std::string& statement_hash, const std::string& user,
                                                         const std::string& database, std::string& error) = 0;
  virtual std::optional<PlanJournalEntry> get(const std::string& id, std::string& error) = 0;
  /// At most `limit` entries (0: all), newest first.
  virtual std::vector<PlanJournalEntry> list(std::size_t limit, std::string& error) = 0;
  /// At proxy start: running entries that are abandoned (a crashed proxy left them; not those
  /// of another live proxy sharing the file) become `interrupted`; returns how many, or -1.
  virtual int mark_running_interrupted(std::string& error) = 0;
};

/// Opens (creating and migrating the schema of) an SQLite journal at `path` (":memory:" allowed).
/// A directory that does not exist or cannot be written is an error naming the path; callers
/// add the configuration key (state.path).
std::unique_ptr<StateStore> open_sqlite_state_store(const std::string& path, std::string& error);

}  // namespace schemagate::proxy
