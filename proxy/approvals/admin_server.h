#pragma once
// The admin HTTP(S) listener (Boost.Beast): one coroutine per connection, on an io_context
// and thread of its own so that a slow approver or a store round trip never delays the
// forwarding path. Requests go to AdminApi; bodies over admin.max_body_bytes get 413.
#include <cstdint>
#include <memory>
#include <string>

#include "config/model.h"
#include "proxy/approvals/admin_api.h"

namespace schemagate::proxy::approvals {

class AdminServer {
 public:
  explicit AdminServer(const config::Admin& cfg);
  ~AdminServer();  // stops the thread
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  /// Binds (and loads the TLS certificate); false with `error` naming the admin.* key on failure.
  /// Bound before the approvals service exists, so that the service knows its URLs.
  bool bind(std::string& error);
  /// Starts the thread serving `api`.
  void serve(std::shared_ptr<const AdminApi> api);
  void stop();
  std::uint16_t port() const;
  /// "http://address:port" or "https://…", with the port actually bound.
  std::string base_url() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace schemagate::proxy::approvals
