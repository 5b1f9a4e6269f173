// Session: the server exchange — SQL the proxy sends on the client's server connection itself
// (catalog facts, plan phases, preparing a deferred statement), its replies hidden from the
// client and collected into a QueryResult by the server pump (collect_exchange_frame).
#include <chrono>

#include <spdlog/spdlog.h>

#include "protocol/backend.h"
#include "protocol/frontend.h"
#include "protocol/tags.h"
#include "proxy/live_facts.h"
#include "proxy/session.h"

namespace schemagate::proxy {

namespace tag = protocol::tag;

awaitable<void> Session::fetch_facts(const std::vector<policy::QualifiedName>& tables, bool identity, LiveFacts& out) {
  // One catalog query on the client's own connection (its search_path, its privileges), in
  // its transaction if it has one open. The reply is hidden from the client; its rows are kept.
  // Waiting also settles the session's settings: every earlier reply, ParameterStatus
  // included, has arrived (the interceptor asks with no tables for just that).
  co_await wait_for_server_idle();
  if (closed_ || state_.tx_status == 'E') co_return;
  if (unsynced_) {
    // A request ended in Flush: the server may hold an implicit transaction open (a simple
    // Query of ours would commit it, and free the very lock the rules ask about) or be skipping
    // every message until the client's Sync after an error (ours would never be answered).
    // Judge with nothing known: the rules then assume the risky case.
    if (state_.exclusive_lock_held) out.assume_exclusive_locks();
    co_return;
  }
  // After wait_for_server_idle every reply has come, and no request ended in Flush since: 'I'
  // means the server is outside any transaction.
  const bool in_transaction = state_.tx_status != 'I';
  // The current role and the tables in one Query message: one round trip. Its identity row
  // (always exactly one) comes first, then one row per table.
  std::string sql = identity ? LiveFacts::identity_query() : std::string();
  if (!tables.empty()) sql += (sql.empty() ? "" : "; ") + LiveFacts::catalog_query(tables, in_transaction);
  if (sql.empty()) co_return;
  QueryResult result;
  bool ok = false;
  if (tables.empty()) {
    stage_ = Stage::fetching_facts;
    ok = co_await server_query(sql, result) && result.ok();
    stage_ = Stage::relaying;
  } else {
    ok = co_await catalog_round_trip(sql, result);
  }
  if (!ok) {
    if (identity) spdlog::warn("[{}] could not read current_user for policy scopes; judging as the session user", state_.id);
    co_return;
  }
  std::size_t first_table_row = 0;
  if (identity && !result.rows.empty()) {
    out.set_identity(result.rows.front());
    first_table_row = 1;
  }
  for (std::size_t i = first_table_row; i < result.rows.size(); ++i) out.add_row(result.rows[i], tables);
  // Partitions only for partitioned tables: a second round trip for those, none for the rest.
  if (const std::string partitions = out.partitions_query(); !partitions.empty()) {
    if (!co_await catalog_round_trip(partitions, result)) co_return;
    for (const auto& row : result.rows) out.add_partitions_row(row);
  }
}

awaitable<bool> Session::catalog_round_trip(const std::string& sql, QueryResult& result) {
  stage_ = Stage::fetching_facts;
  const auto asked = std::chrono::steady_clock::now();
  const bool ok = co_await server_query(sql, result);
  ctx_->metrics->add(Counter::catalog_queries);
  ctx_->metrics->observe(Histogram::catalog_query_seconds,
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count());
  stage_ = Stage::relaying;
  if (!ok) co_return false;
  if (!result.ok()) {
    spdlog::warn("[{}] catalog query for policy facts failed; judging with what is known", state_.id);
    co_return false;
  }
  co_return true;
}

awaitable<bool> Session::server_query(const std::string& sql, QueryResult& out) {
  std::vector<std::byte> message;
  protocol::write_query(message, sql);
  const bool ok = co_await server_exchange(message, tag::kQuery, out);
  co_return ok;
}

awaitable<bool> Session::server_exchange(const std::vector<std::byte>& messages, char terminator, QueryResult& out) {
  co_await wait_for_server_idle();
  const bool keep = out.keep_replies, relay = out.relay_to_client;
  out = QueryResult{};
  out.keep_replies = keep;
  out.relay_to_client = relay;
  if (closed_ || server_closed_) {
    out.connection_lost = true;
    co_return false;
  }
  exchange_ = &out;
  expect_ready_for_query(terminator);
  const bool sent = co_await write_server(messages);
  if (sent) co_await wait_for_server_idle();
  exchange_ = nullptr;
  if (!sent || closed_ || server_closed_) {
    out.connection_lost = true;
    co_return false;
  }
  co_return true;
}

void Session::collect_exchange_frame(char t, const protocol::Frame& frame, const std::byte* bytes, std::size_t size) {
  if (exchange_->relay_to_client) {
    // In order with everything else, ParameterStatus and NotificationResponse included.
    if (t != tag::kReadyForQuery) side_out_.insert(side_out_.end(), bytes, bytes + size);
    if (t == tag::kDataRow || t == tag::kNotificationResponse || t == tag::kParameterStatus) return;
  } else if (exchange_->keep_replies && t != tag::kReadyForQuery && t != tag::kNotificationResponse &&
             t != tag::kParameterStatus) {
    exchange_->replies.insert(exchange_->replies.end(), bytes, bytes + size);
  }
  switch (t) {
    case tag::kDataRow:
      exchange_->rows.emplace_back();
      if (protocol::parse_data_row(frame, exchange_->rows.back())) exchange_->malformed = true;
      break;
    case tag::kCommandComplete: {
      const auto body = frame.body;
      std::string command(reinterpret_cast<const char*>(body.data()), body.size());
      if (!command.empty() && command.back() == '\0') command.pop_back();
      exchange_->command_tags.push_back(std::move(command));
      break;
    }
    case tag::kErrorResponse: {
      if (protocol::is_fatal_error(frame)) server_sent_fatal_ = true;
      protocol::ErrorFields e;
      if (protocol::parse_error_fields(frame, e)) exchange_->malformed = true;
      if (!exchange_->error) exchange_->error = std::move(e);
      break;
    }
    case tag::kNoticeResponse: {
      protocol::ErrorFields e;
      if (!protocol::parse_error_fields(frame, e)) exchange_->notices.push_back(std::move(e));
      break;
    }
    case tag::kNotificationResponse:
    case tag::kParameterStatus:
      side_out_.insert(side_out_.end(), bytes, bytes + size);  // asynchronous: the client's
      break;
    default:
      break;  // RowDescription, EmptyQueryResponse: nothing to keep
  }
}

}  // namespace schemagate::proxy
