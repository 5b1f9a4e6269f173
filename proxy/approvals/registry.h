#pragma once
// Who is waiting for which approval request. A held session registers a wake-up on its own
// executor; whoever changes a request (the admin API's thread, a webhook thread, the
// PostgreSQL store's LISTEN thread, the sweep) calls changed(id), and the wake-up is posted to
// the session's executor — never run on the caller's thread, no cross-thread timer cancels.
// The session then re-reads its request from the store, the one source of truth.
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

namespace schemagate::proxy::approvals {

class ApprovalRegistry {
 public:
  using Wake = std::function<void()>;

  /// Registers `wake` (run on `executor`) for changes of request `id`; returns a handle for unwatch.
  std::uint64_t watch(const std::string& id, boost::asio::any_io_executor executor, Wake wake);
  void unwatch(std::uint64_t handle);
  /// Posts the wake-ups of everyone watching `id`.
  void changed(const std::string& id);
  /// Posts every wake-up (the poll fallback).
  void changed_all();
  std::size_t size() const;

 private:
  struct Watcher {
    std::string id;
    boost::asio::any_io_executor executor;
    Wake wake;
  };
  mutable std::mutex mu_;
  std::uint64_t next_ = 1;
  std::unordered_map<std::uint64_t, Watcher> watchers_;
};

}  // namespace schemagate::proxy::approvals
