#include "proxy/approvals/service.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "proxy/sqlite_file.h"

namespace schemagate::proxy::approvals {

ApprovalService::ApprovalService(const config::Approvals& cfg, std::string base_url,
                                 std::unique_ptr<RequestStore> store)
    : cfg_(cfg), base_url_(std::move(base_url)), store_(std::move(store)) {
  // Changes made by other replicas arrive on the store's own thread; the registry posts the
  // wake-ups to the sessions' executors.
  store_->set_change_listener([this](const std::string& id) { registry_.changed(id); });
  if (!cfg_.webhooks.empty())
    webhooks_ = std::make_unique<WebhookNotifier>(
        cfg_.webhooks, cfg_.webhook_queue,
        [this](const std::string& id, const WebhookDecision& d) { on_webhook_decision(id, d); });
}

ApprovalService::~ApprovalService() {
  {
    std::lock_guard lock(housekeeping_mu_);
    stopping_ = true;
  }
  housekeeping_cv_.notify_all();
  if (housekeeping_.joinable()) housekeeping_.join();
  webhooks_.reset();  // its thread calls back into us: stop it first
  store_.reset();     // so does the store's change listener (into registry_, destroyed before store_ otherwise)
}

void ApprovalService::start_housekeeping() {
  housekeeping_ = std::thread([this] {
    std::unique_lock lock(housekeeping_mu_);
    while (!housekeeping_cv_.wait_for(lock, std::chrono::milliseconds(cfg_.store.poll_ms), [this] { return stopping_; })) {
      lock.unlock();
      sweep();
      lock.lock();
    }
  });
}

bool ApprovalService::submit(ApprovalRequest& r, std::string& error) {
  r.id = new_request_id();
  r.status = RequestStatus::pending;
  r.created_ms = wall_clock_ms();
  r.expires_ms = r.created_ms + cfg_.request_ttl_ms;
  r.approvals_required = static_cast<int>(cfg_.approvals_required);
  r.votes.clear();
  if (!store_->create(r, error)) return false;
  spdlog::info("approval request {} created: {} by user {} on database {} (rule {})", r.id, r.command_tag, r.user,
               r.database, r.rule_id);
  transition(r, "created");
  if (webhooks_) webhooks_->post(r.id, webhook_payload(r));
  return true;
}

void ApprovalService::withdraw(const std::string& id, const std::string& why) {
  ApprovalRequest after;
  std::string error;
  const auto changed = store_->update(
      id,
      [&](ApprovalRequest& r) {
        if (r.status != RequestStatus::pending) return false;
        r.status = RequestStatus::withdrawn;
        r.decided_ms = wall_clock_ms();
        r.outcome = why;
        return true;
      },
      after, error);
  if (!changed) spdlog::warn("approval request {}: cannot record the withdrawal: {}", id, error);
  else if (*changed) {
    spdlog::info("approval request {} withdrawn: {}", id, why);
    transition(after, "withdrawn");
    registry_.changed(id);
  }
}

bool ApprovalService::claim(const std::string& id, ApprovalRequest& after, std::string& error) {
  const std::int64_t now = wall_clock_ms();
  bool usable = false;
  const auto changed = store_->update(
      id,
      [&](ApprovalRequest& r) {
        usable = r.status == RequestStatus::approved && r.valid_until_ms > now;
        if (!usable || !cfg_.single_use) return false;
        // Single use: executed from the moment it starts, so that a second copy of the
        // statement (another session, another replica) finds nothing to claim.
        r.status = RequestStatus::executed;
        r.finished_ms = now;
        r.outcome = "running";
        return true;
      },
      after, error);
  if (!changed) return false;
  if (!usable) error = "request " + id + " is " + to_string(after.status) + ", not approved and valid";
  return usable;
}

void ApprovalService::finish(const std::string& id, bool ok, const std::string& outcome) {
  ApprovalRequest after;
  std::string error;
  const auto changed = store_->update(
      id,
      [&](ApprovalRequest& r) {
        if (r.status != RequestStatus::executed && r.status != RequestStatus::approved) return false;
        if (cfg_.single_use || !ok) r.status = ok ? RequestStatus::executed : RequestStatus::failed;
        r.finished_ms = wall_clock_ms();
        r.outcome = outcome;
        return true;
      },
      after, error);
  if (!changed) spdlog::warn("approval request {}: cannot record how it ended: {}", id, error);
  else if (*changed) transition(after, ok ? "executed" : "failed");
}

std::optional<ApprovalRequest> ApprovalService::find_approved(const std::string& statement_hash,
                                                              const std::string& user, const std::string& database,
                                                              std::string& error) {
  return store_->find_approved(statement_hash, user, database, wall_clock_ms(), error);
}

std::optional<ApprovalRequest> ApprovalService::find_pending(const std::string& statement_hash,
                                                             const std::string& user, const std::string& database,
                                                             std::string& error) {
  return store_->find_pending(statement_hash, user, database, error);
}

VoteOutcome ApprovalService::vote(const std::string& id, const Vote& vote) {
  VoteOutcome out;
  const DecideRules rules{cfg_.require_distinct_approver, static_cast<std::int64_t>(cfg_.validity_ms)};
  const auto changed = store_->update(
      id,
      [&](ApprovalRequest& r) {
        out.result = apply_vote(r, vote, rules, wall_clock_ms());
        return out.result == DecideResult::recorded || out.result == DecideResult::decided ||
               r.status == RequestStatus::expired;  // apply_vote may have expired it
      },
      out.request, out.error);
  if (!changed) {
    out.store_error = !out.error.empty();
    return out;
  }
  out.found = true;
  if (out.result == DecideResult::recorded || out.result == DecideResult::decided) {
    spdlog::info("approval request {}: {} by {} ({}){}", id, vote.approve ? "approved" : "denied", vote.approver,
                 vote.reason.empty() ? "no reason given" : vote.reason,
                 out.result == DecideResult::recorded ? ", more approvals needed" : "");
    transition(out.request, out.result == DecideResult::recorded ? "voted" : vote.approve ? "approved" : "denied", &vote);
    registry_.changed(id);
  }
  return out;
}

std::optional<ApprovalRequest> ApprovalService::get(const std::string& id, std::string& error) {
  return store_->get(id, error);
}

std::vector<ApprovalRequest> ApprovalService::list(std::optional<RequestStatus> status, std::size_t limit,
                                                   std::string& error) {
  return store_->list(status, limit, error);
}

void ApprovalService::sweep() {
  std::string error;
  for (const auto& r : store_->expire_due(wall_clock_ms(), error)) {
    spdlog::info("approval request {} expired: nobody decided within approvals.request_ttl_ms", r.id);
    transition(r, "expired");
  }
  if (!error.empty()) spdlog::warn("approvals: expiring requests failed: {}", error);
  registry_.changed_all();
}

void ApprovalService::on_webhook_decision(const std::string& id, const WebhookDecision& d) {
  if (d.kind == WebhookDecision::Kind::none) {
    spdlog::warn("approval request {}: the decide webhook gave no decision ({}); it stays pending for approvers", id,
                 d.error.empty() ? "no answer" : d.error);
    return;
  }
  Vote v;
  v.approver = d.approver;
  v.approve = d.kind == WebhookDecision::Kind::approve;
  v.reason = d.reason;
  const auto out = vote(id, v);
  if (!out.found)
    spdlog::warn("approval request {}: the webhook's decision could not be recorded: {}", id,
                 out.error.empty() ? "no such request" : out.error);
  else if (out.result == DecideResult::self_approval || out.result == DecideResult::conflict)
    spdlog::warn("approval request {}: the webhook's decision was not applied ({})", id, to_string(out.result));
}

std::string ApprovalService::webhook_payload(const ApprovalRequest& r) const {
  using json = nlohmann::json;
  const std::string url = request_url(r.id);
  std::string statement = r.statement.size() > 500 ? r.statement.substr(0, 500) + "…" : r.statement;
  const std::string text = "schemagate: " + r.command_tag + " by " + r.user + " on " + r.database + " held for approval (rule " +
                           r.rule_id + ", request " + r.id + ")\n```" + statement + "```\nApprove: POST " + url +
                           "/approve — Deny: POST " + url + "/deny";
  json j = {{"type", "approval_request.created"},
            {"request", json::parse(to_json_text(r))},
            {"request_url", url},
            {"approve_url", url + "/approve"},
            {"deny_url", url + "/deny"},
            {"text", text}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace schemagate::proxy::approvals
