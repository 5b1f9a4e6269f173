#pragma once
// The approvals service: the one place that changes approval requests. Sessions submit and
// wait; the admin API (and decide-mode webhooks) vote; a sweep expires. Thread-safe. Every
// change goes through the store's atomic update, then wakes the sessions waiting on it.
#include <cstdint>
#include <functional>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <optional>
#include <string>
#include <vector>

#include "config/model.h"
#include "proxy/approvals/registry.h"
#include "proxy/approvals/request.h"
#include "proxy/approvals/request_store.h"
#include "proxy/approvals/webhook.h"

namespace schemagate::proxy::approvals {

/// The answer to a vote, for the admin API: `result` when the request was found.
struct VoteOutcome {
  bool found = false;
  bool store_error = false;  // `error` says why
  DecideResult result = DecideResult::conflict;
  ApprovalRequest request;   // as stored after the vote
  std::string error;
};

class ApprovalService {
 public:
  /// `base_url`: where approvers reach the admin API ("http://127.0.0.1:6433"), for URLs in
  /// NOTICEs and webhook payloads.
  ApprovalService(const config::Approvals& cfg, std::string base_url, std::unique_ptr<RequestStore> store);
  ~ApprovalService();

  const config::Approvals& config() const { return cfg_; }
  ApprovalRegistry& registry() { return registry_; }
  RequestStore& store() { return *store_; }
  /// Called after every transition made here — created, voted (more approvals needed),
  /// approved, denied, expired, withdrawn, executed, failed — on the thread that made it (the
  /// audit log). Set before the service is used.
  using TransitionListener = std::function<void(const ApprovalRequest&, const std::string& event, const Vote*)>;
  void set_transition_listener(TransitionListener l) { on_transition_ = std::move(l); }
  const WebhookStats* webhook_stats() const { return webhooks_ ? &webhooks_->stats() : nullptr; }

  // ---- sessions
  /// Stores a new pending request (fills id, times, approvals_required) and posts the webhooks.
  bool submit(ApprovalRequest& r, std::string& error);
  /// pending → withdrawn (Ctrl-C, client gone); `why` is recorded. No-op if no longer pending.
  void withdraw(const std::string& id, const std::string& why);
  /// Claims an approved request for running its statement: single-use approvals move to
  /// executed at once (so that a second copy cannot run); false if it is not (or no longer)
  /// approved and valid.
  bool claim(const std::string& id, ApprovalRequest& after, std::string& error);
  /// Records how the approved statement ended: executed with its command tag, or failed.
  void finish(const std::string& id, bool ok, const std::string& outcome);
  /// An approved, still valid request for a resent statement, if any.
  std::optional<ApprovalRequest> find_approved(const std::string& statement_hash, const std::string& user,
                                               const std::string& database, std::string& error);
  std::optional<ApprovalRequest> find_pending(const std::string& statement_hash, const std::string& user,
                                              const std::string& database, std::string& error);

  // ---- approvers (admin API, webhooks)
  VoteOutcome vote(const std::string& id, const Vote& vote);
  std::optional<ApprovalRequest> get(const std::string& id, std::string& error);
  std::vector<ApprovalRequest> list(std::optional<RequestStatus> status, std::size_t limit, std::string& error);

  // ---- housekeeping (the server's sweep timer)
  /// Expires due requests and wakes every waiting session (so that a decision made by another
  /// replica reaches a store without push within poll_ms).
  void sweep();
  /// Runs sweep() every store.poll_ms on a thread of its own (store I/O never on an I/O
  /// thread's time) until the service is destroyed.
  void start_housekeeping();

  std::string request_url(const std::string& id) const { return base_url_ + "/v1/requests/" + id; }
  const std::string& base_url() const { return base_url_; }

 private:
  void on_webhook_decision(const std::string& id, const WebhookDecision& d);
  std::string webhook_payload(const ApprovalRequest& r) const;

  void transition(const ApprovalRequest& r, const std::string& event, const Vote* vote = nullptr) const {
    if (on_transition_) on_transition_(r, event, vote);
  }

  config::Approvals cfg_;
  TransitionListener on_transition_;
  std::string base_url_;
  std::unique_ptr<RequestStore> store_;
  ApprovalRegistry registry_;
  std::unique_ptr<WebhookNotifier> webhooks_;  // null without webhooks
  std::mutex housekeeping_mu_;
  std::condition_variable housekeeping_cv_;
  bool stopping_ = false;
  std::thread housekeeping_;
};

}  // namespace schemagate::proxy::approvals
