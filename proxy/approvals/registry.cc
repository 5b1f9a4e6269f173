#include "proxy/approvals/registry.h"

#include <boost/asio/post.hpp>

namespace schemagate::proxy::approvals {

std::uint64_t ApprovalRegistry::watch(const std::string& id, boost::asio::any_io_executor executor, Wake wake) {
  std::lock_guard lock(mu_);
  const std::uint64_t handle = next_++;
  watchers_.emplace(handle, Watcher{id, std::move(executor), std::move(wake)});
  return handle;
}

void ApprovalRegistry::unwatch(std::uint64_t handle) {
  std::lock_guard lock(mu_);
  watchers_.erase(handle);
}

void ApprovalRegistry::changed(const std::string& id) {
  std::lock_guard lock(mu_);
  // Posting under the lock is cheap (a queue push) and keeps a watcher from being destroyed
  // while its wake-up is being copied.
  for (const auto& [handle, w] : watchers_)
    if (w.id == id) boost::asio::post(w.executor, w.wake);
}

void ApprovalRegistry::changed_all() {
  std::lock_guard lock(mu_);
  for (const auto& [handle, w] : watchers_) boost::asio::post(w.executor, w.wake);
}

std::size_t ApprovalRegistry::size() const {
  std::lock_guard lock(mu_);
  return watchers_.size();
}

}  // namespace schemagate::proxy::approvals
