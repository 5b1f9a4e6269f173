#pragma once
// A schemagate Server running inside the test process (on its own thread) in front of a real
// PostgreSQL, with an interceptor chosen by the test. Stopped when destroyed.
#include <memory>
#include <string>
#include <thread>

#include "config/model.h"
#include "proxy/interceptor.h"
#include "proxy/server.h"

namespace schemagate::proxy::testing {

class InProcessProxy {
 public:
  InProcessProxy(int upstream_port, std::shared_ptr<const Interceptor> interceptor) {
    auto cfg = std::make_shared<config::Config>();
    cfg->listen.port = 0;  // any free port
    cfg->upstream.port = static_cast<std::uint16_t>(upstream_port);
    cfg->upstream.tls.mode = config::UpstreamTlsMode::disable;
    cfg->state.path = ":memory:";
    // Held statements time out after 1 s here (SG003): nobody approves in these tests.
    cfg->approvals.store.path = ":memory:";
    cfg->approvals.wait_ms = 1000;
    server_ = std::make_unique<Server>(cfg, std::move(interceptor));
    if (!server_->start(error_)) {
      server_.reset();
      return;
    }
    thread_ = std::thread([this] { server_->run(false); });
  }
  ~InProcessProxy() {
    if (server_) server_->shutdown();
    if (thread_.joinable()) thread_.join();
  }
  InProcessProxy(const InProcessProxy&) = delete;
  InProcessProxy& operator=(const InProcessProxy&) = delete;

  bool ok() const { return server_ != nullptr; }
  const std::string& error() const { return error_; }
  int port() const { return server_ ? server_->port() : 0; }
  std::string conninfo(const std::string& user = "postgres") const {
    return "host=127.0.0.1 port=" + std::to_string(port()) + " user=" + user + " dbname=postgres sslmode=disable";
  }

 private:
  std::unique_ptr<Server> server_;
  std::thread thread_;
  std::string error_;
};

}  // namespace schemagate::proxy::testing
