#include "proxy/cancel_map.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace schemagate::proxy {
namespace {

std::uint32_t random_u32() {
  std::uint32_t v = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v) != 1) throw std::runtime_error("RAND_bytes failed");
  return v;
}

}  // namespace

CancelMap::ProxyKey CancelMap::add(ServerKey server) {
  const std::uint32_t secret = random_u32();
  std::lock_guard lock(mu_);
  for (;;) {
    // Positive 31-bit pids, like real backends, so tools that print them see nothing odd.
    const std::uint32_t pid = (random_u32() & 0x7fffffffu) | 1u;
    if (entries_.emplace(pid, Entry{secret, server}).second) return {pid, secret};
  }
}

void CancelMap::remove(std::uint32_t proxy_pid) {
  std::lock_guard lock(mu_);
  entries_.erase(proxy_pid);
}

std::optional<ServerKey> CancelMap::find(std::uint32_t proxy_pid, std::uint32_t proxy_secret) const {
  std::lock_guard lock(mu_);
  const auto it = entries_.find(proxy_pid);
  if (it == entries_.end()) return std::nullopt;
  if (CRYPTO_memcmp(&it->second.secret, &proxy_secret, sizeof proxy_secret) != 0) return std::nullopt;
  return it->second.server;
}

std::size_t CancelMap::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace schemagate::proxy
