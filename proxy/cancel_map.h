#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace schemagate::proxy {

/// The key the database gave one of our upstream connections.
struct ServerKey {
  std::uint32_t pid = 0;
  std::uint32_t secret = 0;
  /// Raised when a CancelRequest names the session, so that the proxy's own work for it (a
  /// rewrite plan between statements, a backoff) stops too. May be null.
  std::shared_ptr<std::atomic<bool>> cancelled;
  /// Wakes the session after `cancelled` is raised (posts to its executor; thread-safe). May be empty.
  std::function<void()> wake;
  /// CancelRequests for the session sent to the server and not yet confirmed delivered (the
  /// server closes the cancel connection after it has signalled the backend). May be null.
  std::shared_ptr<std::atomic<int>> cancels_in_flight;
  /// True while the session waits inside the proxy with its backend idle (a held statement):
  /// a cancel then concerns the proxy alone and is not sent to the server. Read after
  /// `cancelled` is raised, both sequentially consistent, so that a session clearing it and then
  /// reading `cancelled` never misses a cancel that was not forwarded. May be null.
  std::shared_ptr<std::atomic<bool>> waiting_in_proxy;
};

/// Maps the BackendKeyData the proxy handed a client to the real server session, so that a
/// CancelRequest sent to the proxy cancels the right backend. Proxy keys are random; secrets
/// are compared in constant time, so a forged or guessed key cancels nothing.
class CancelMap {
 public:
  struct ProxyKey {
    std::uint32_t pid = 0;
    std::uint32_t secret = 0;
  };

  /// Registers a server key and returns the fresh proxy key to give the client.
  ProxyKey add(ServerKey server);
  void remove(std::uint32_t proxy_pid);
  /// The server key for a client's CancelRequest, if pid and secret both match.
  std::optional<ServerKey> find(std::uint32_t proxy_pid, std::uint32_t proxy_secret) const;
  std::size_t size() const;

 private:
  struct Entry {
    std::uint32_t secret;
    ServerKey server;
  };
  mutable std::mutex mu_;
  std::unordered_map<std::uint32_t, Entry> entries_;
};

}  // namespace schemagate::proxy
