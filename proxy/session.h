#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/circular_buffer.hpp>

#include "protocol/frame_decoder.h"
#include "protocol/startup.h"
#include "proxy/client_request.h"
#include "proxy/interceptor.h"
#include "proxy/plan_journal.h"
#include "proxy/plan_runner.h"
#include "proxy/io_buffer.h"
#include "proxy/server_exchange.h"
#include "proxy/net.h"
#include "proxy/session_context.h"
#include "proxy/server_control.h"
#include "proxy/session_state.h"
#include "proxy/stream.h"

namespace schemagate::proxy {

class LiveFacts;

/// One client connection and its server connection.
///
/// run() walks the startup states (see session_state.h), then two coroutines share the
/// session's strand: client_pump (client → server, request by request, through the
/// interceptor) and server_pump (server → client, forwarding byte ranges and tracking
/// ReadyForQuery, ParameterStatus and COPY state). Errors end this session only.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(StreamSocket client, std::shared_ptr<SessionContext> ctx, std::uint64_t id);
  ~Session();

  awaitable<void> run();

  /// Graceful shutdown: close as soon as no statement is in flight. Call on the strand.
  void drain();
  /// Immediate close (timeouts, hard shutdown). Call on the strand.
  void abort(const char* sqlstate, const char* message);
  /// abort() only when no statement is in flight and no transaction is open (idle timeout).
  void abort_if_idle(const char* sqlstate, const char* message);

  std::uint64_t id() const { return state_.id; }
  net::any_io_executor executor() { return client_.socket().get_executor(); }
  /// Milliseconds since the epoch of the steady clock at the last client activity.
  std::int64_t last_activity_ms() const { return last_activity_ms_.load(std::memory_order_relaxed); }
  Stage stage() const { return stage_.load(std::memory_order_relaxed); }
  /// What SHOW CLIENTS / SHOW SERVERS print; callable from any thread.
  SessionSummary summary() const;

 private:
  // startup
  awaitable<bool> negotiate_startup();
  awaitable<bool> connect_upstream();
  awaitable<bool> negotiate_upstream_tls();
  awaitable<bool> relay_authentication();
  awaitable<bool> handle_cancel_request(std::uint32_t pid, std::uint32_t secret);
  /// Raises key.cancelled, sends a CancelRequest for `key` to the server and waits (a few seconds
  /// at most) until the server has acted on it, counted in key.cancels_in_flight meanwhile.
  awaitable<void> send_cancel(ServerKey key);
  /// Waits until every CancelRequest sent for this session has reached its backend, so that the
  /// next statement the proxy sends is not the one a late cancel lands on (bounded).
  awaitable<void> wait_for_cancel_delivery();
  awaitable<error_code> connect_to_upstream(StreamSocket& sock);
  awaitable<bool> read_client_frame(protocol::Frame& out);
  awaitable<bool> read_server_frame(protocol::Frame& out, std::size_t& consumed);
  /// A startup naming admin.console_database: checks admin.users and points the upstream
  /// authentication at admin.auth_database. False (the client told why) when refused.
  awaitable<bool> admit_console();

  // admin console (session_console.cc)
  /// After authentication: closes the server connection and answers the client's queries.
  awaitable<void> console_loop();
  /// Publishes what summary() reports (startup values, application_name changes).
  void publish_summary();

  // ready
  /// What scan_client found: how many bytes at the front of cbuf_ to forward, and what next.
  struct ClientScan {
    std::size_t forward = 0;
    enum { read_more, slow, terminate, error } next = read_more;
  };
  /// What scan_server found: [begin, end) of sbuf_ goes to the client.
  struct ServerScan {
    std::size_t begin = 0, end = 0;
    bool ok = true;
  };
  awaitable<void> client_pump();
  awaitable<void> server_pump();
  ClientScan scan_client();
  ServerScan scan_server();
  /// Adds one server frame to the answer server_query() is collecting.
  void collect_exchange_frame(char tag, const protocol::Frame& frame, const std::byte* bytes, std::size_t size);
  // statements prepared with Parse that the proxy answered itself (session_deferred.cc)
  /// For the complete request at offset `at` of cbuf_: forgets deferred statements it closes
  /// or prepares again, and answers true when a Bind or Describe in it names one (then judge
  /// inline_view()).
  bool names_deferred(std::size_t at);
  /// That request with a Parse of the deferred statement it names put in front of it.
  RequestView inline_view(std::size_t at);
  /// The request the interceptor judged: inline_view() or the request at the front of cbuf_.
  RequestView judged_view(std::size_t size);
  /// Keeps the statement a request prepared (its Parse never reached the server).
  void remember_deferred(const PlanRequestShape& shape);
  /// Room for one more (bounded: the proxy's memory is shared by every session).
  static constexpr std::size_t kMaxDeferred = 256;
  bool can_defer(const std::string& name) const { return deferred_.size() < kMaxDeferred || deferred_.count(name); }
  /// Prepares the inlined deferred statement on the server (its replies hidden), so that the
  /// request naming it can be forwarded as written; false when the session closed.
  awaitable<bool> materialize_deferred();
  /// Answers a request that only prepared (or described) a rewritten or held statement.
  awaitable<bool> answer_prepared(const std::vector<std::byte>& replies, char terminator);
  enum class SlowResult { stop, rescan, read };
  awaitable<SlowResult> slow_client_path();
  awaitable<bool> respond(Respond r, char terminator);
  awaitable<void> wait_for_server_idle();
  /// Reads the facts the interceptor asked for (tables, and the current role when `identity`),
  /// after every earlier reply has arrived; with neither, it only waits for those replies.
  awaitable<void> fetch_facts(const std::vector<policy::QualifiedName>& tables, bool identity, LiveFacts& out);
  /// One catalog facts query (counted and timed); false when it failed or the connection is gone.
  awaitable<bool> catalog_round_trip(const std::string& sql, QueryResult& result);
  /// The server exchange: sends `sql` as one simple Query on the server connection, once every
  /// earlier reply has arrived, and collects its answer (hidden from the client) into `out`.
  /// False when the session closed meanwhile.
  awaitable<bool> server_query(const std::string& sql, QueryResult& out);
  /// The same for `messages` ending in `terminator` (Query, or Sync after extended messages).
  awaitable<bool> server_exchange(const std::vector<std::byte>& messages, char terminator, QueryResult& out);
  /// Runs a rewrite plan in place of the request (session_plan.cc) and answers the request as
  /// the server would have answered the original statement.
  /// `failure`, when given, receives "SQLSTATE: message" if the plan did not complete.
  awaitable<bool> run_plan(const RunPlan& run, const std::vector<std::byte>& replies, char terminator,
                           std::string* failure = nullptr);
  /// Runs `runner` to its end on the server connection: queries, sleeps, NOTICEs to the client
  /// (while `client_ok`), phases counted and audited, progress journaled. A passthrough query's
  /// replies are relayed to the client, and at statement_done it gets `statement_replies`.
  awaitable<PlanStep> drive_plan(PlanRunner& runner, PlanJournalProgress& journal, const std::string& plan_id,
                                 bool& client_ok, const std::vector<std::byte>* statement_replies = nullptr);
  /// Ends a plan run that stopped at `step`: journal, metrics, audit; adds the resume hint.
  void end_plan_run(const PlanRunner& runner, PlanJournalProgress& journal, PlanStep& step, bool in_transaction,
                    const std::string& plan_id, std::int64_t started);
  // phases waiting for the client's COMMIT (session_after_commit.cc)
  /// True when the request at offset `at` of cbuf_ is one plain COMMIT the proxy can send itself.
  bool is_plain_commit(std::size_t at) const;
  /// Notes a plain ROLLBACK/ABORT at offset `at` (forwarded as usual): the end it brings drops them.
  void note_transaction_end_request(std::size_t at);
  /// Sends the client's COMMIT; once committed, runs the waiting phases, then answers it.
  awaitable<bool> commit_and_run_waiting(std::size_t size, char terminator);
  /// The waiting phases will not run on this connection (`why`): journaled as interrupted when
  /// the transaction may have committed (`schemagate migrations resume` finishes them), failed
  /// when nothing of them was committed.
  void give_up_waiting(bool maybe_committed, const std::string& why);
  /// Holds the request for approval (session_hold.cc): an approval request, NOTICEs while it
  /// waits, then the statement runs — through `hold.plan`, or `request_bytes` forwarded as
  /// written — or the client gets SG002 (denied), SG003 (timed out, expired) or 57014 (cancelled).
  awaitable<bool> hold_request(const Hold& hold, const std::vector<std::byte>& request_bytes,
                               const std::vector<std::byte>& plan_replies, char terminator);
  /// Reads lock holders, long transactions, table sizes and replication lag for an approver.
  awaitable<std::string> gather_evidence(const Hold& hold);
  /// Runs an approved statement; true when the client connection is still usable.
  awaitable<bool> run_approved(const Hold& hold, const std::string& request_id,
                               const std::vector<std::byte>& request_bytes, const std::vector<std::byte>& plan_replies,
                               char terminator);
  /// Records how an approved statement ended (executed / failed), off the I/O thread.
  awaitable<void> record_outcome(const std::string& request_id, bool succeeded, std::string result);
  awaitable<bool> write_notice(const std::string& text);
  /// Runs `work` (a call that may block: a store, a file) on the server's blocking pool and
  /// resumes on this session's executor with its result; in place where there is no pool
  /// (unit tests). `work` is referenced, not copied: it lives in the caller's frame, which
  /// stays suspended until the result is back, and the pool is joined before any frame is
  /// destroyed (~Server).
  template <class F>
  awaitable<std::invoke_result_t<F&>> off_io_thread(F& work) {
    if (ctx_->blocking == nullptr) co_return work();
    auto job = [&work]() -> awaitable<std::invoke_result_t<F&>> { co_return work(); };
    co_return co_await net::co_spawn(ctx_->blocking->get_executor(), job, use_awaitable);
  }
  /// Metrics and audit lines for what the interceptor judged; false when the audit log
  /// cannot be written and audit.fail_closed refuses the request.
  bool record_judgements(const Verdict& verdict);
  AuditSession audit_session() const;
  /// Counts the ErrorResponses among complete backend messages the proxy sends itself.
  void count_errors(std::span<const std::byte> messages);
  /// Picks up a reloaded configuration between requests.
  void refresh_context();
  /// Waits until notify() or `deadline`.
  awaitable<void> wait_event_until(std::chrono::steady_clock::time_point deadline);
  /// Watches the client socket while the client pump is busy in a plan: a client that goes
  /// away cancels the running phase.
  awaitable<void> watch_client_gone(std::shared_ptr<bool> busy);
  /// Sleeps `ms`, waking early when a CancelRequest for this session arrives.
  awaitable<void> sleep_unless_cancelled(std::uint32_t ms);
  bool cancel_requested() const { return cancel_flag_->load(std::memory_order_relaxed); }
  awaitable<void> wait_event();
  void on_ready_for_query(char status);
  void expect_ready_for_query(char terminator);

  // output
  awaitable<bool> write_client(std::span<const std::byte> bytes);
  awaitable<bool> write_server(std::span<const std::byte> bytes);
  // GCC 12 miscompiles coroutine calls whose arguments create temporaries with destructors
  // (double free, bad resume index): callers pass named values, never `"..." + x`.
  awaitable<void> send_fatal(const char* sqlstate, std::string message);
  void notify();
  void touch();
  void close_streams();
  bool idle_for_drain() const;

  std::shared_ptr<SessionContext> ctx_;
  SessionState state_;
  std::atomic<Stage> stage_{Stage::startup};
  std::atomic<std::int64_t> last_activity_ms_{0};

  Stream client_;
  Stream server_;
  IoBuffer cbuf_;
  IoBuffer sbuf_;
  protocol::FrameDecoder cdec_;
  protocol::FrameDecoder sdec_;
  std::vector<std::byte> startup_packet_;
  std::vector<std::byte> scratch_;  // messages the proxy writes itself (rare paths)
  std::uint32_t proxy_pid_ = 0;     // key handed to the client, 0 until BackendKeyData
  ServerKey server_key_;            // the real backend's key, for cancelling on the client's behalf
  bool server_closed_ = false;      // the server side ended (its read failed)
  bool server_counted_ = false;     // counted in LiveCounts::servers
  bool console_ = false;            // an admin console session (admin.console_database)
  std::int64_t connected_wall_ms_ = 0;
  std::atomic<char> tx_status_seen_{'I'};  // state_.tx_status, for summary() on other threads
  mutable std::mutex summary_mu_;
  SessionSummary summary_;          // guarded by summary_mu_; see publish_summary()
  Judged judged_;                   // what the interceptor judged for the pending request
  std::uint64_t ctx_generation_ = 0;  // of ctx_, against ContextSource::generation()

  ClientRequest request_;
  Verdict pending_verdict_;        // for the request scan_client handed to the slow path
  std::error_code client_error_;   // why scan_client gave up on the client's bytes
  int waiters_ = 0;                // coroutines waiting on event_
  // ReadyForQuery bookkeeping: each forwarded Query/Sync/FunctionCall expects one 'Z'.
  boost::circular_buffer<char> expected_z_;
  bool unsynced_ = false;          // a request ending in Flush was forwarded since the last 'Z'
  bool server_copy_in_ = false;    // server sent CopyInResponse/CopyBothResponse
  bool discard_until_sync_ = false;  // after answering a Flush-terminated request ourselves
  bool client_writing_ = false;      // a write to the client is in progress
  bool server_sent_fatal_ = false;   // the server announced it is closing the connection
  std::uint64_t server_errors_ = 0;  // ErrorResponses relayed so far (how a forwarded statement ended)
  bool client_gone_ = false;         // watch_client_gone saw the client hang up
  std::uint64_t approval_wakeups_ = 0;  // bumped (on the strand) when a held request changes
  bool draining_ = false;
  bool closed_ = false;
  net::steady_timer event_;  // wakes the client pump when server-side state changes
  std::vector<std::byte> side_out_;  // server frames forwarded out of order with the buffer (rare)
  // The answer being collected for server_query(): while set, the server's frames up to the
  // next ReadyForQuery go here instead of to the client.
  QueryResult* exchange_ = nullptr;
  // Deferred statements by name ("" = the unnamed one); empty for almost every session, and
  // only looked at when not (one branch per request on the fast path).
  std::map<std::string, DeferredStatement> deferred_;
  std::string inlined_name_;               // the one inline_view() put in front ("" = none)
  bool inlined_ = false;                   // the pending request is judged through inline_view()
  std::vector<std::byte> inlined_bytes_;   // its bytes: a Parse, then the client's request
  std::optional<ClientRequest> inlined_request_;
  /// A plan that ran inside the client's transaction and whose last phases wait for its COMMIT.
  struct AfterCommit {
    std::shared_ptr<const policy::Plan> plan;
    std::string plan_id;      // its journal entry, still running
    std::size_t first_phase;  // the first after_commit phase
    std::string command_tag;
    std::int64_t started_ms;  // wall clock when the plan began
  };
  std::vector<AfterCommit> after_commit_;  // empty for almost every session
  bool commit_request_ = false;            // scan_client: the pending request is a plain COMMIT for them
  bool rollback_requested_ = false;        // a plain ROLLBACK was sent since they began waiting
  // Set by a CancelRequest naming this session (CancelMap), so that work the proxy does on the
  // client's behalf (a plan) stops too, not only the statement running on the server.
  std::shared_ptr<std::atomic<bool>> cancel_flag_ = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<std::atomic<int>> cancels_in_flight_ = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<std::atomic<bool>> waiting_in_proxy_ = std::make_shared<std::atomic<bool>>(false);  // held
};

}  // namespace schemagate::proxy
