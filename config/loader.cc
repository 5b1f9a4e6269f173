#include "config/loader.h"

#include <fstream>
#include <sstream>

#include "config/approvals_section.h"
#include "config/policy_section.h"

namespace schemagate::config {
namespace {

void load_listen(const YAML::Node& n, ErrorSink& errors, Listen& out) {
  Section s(n, "listen", errors, {"address", "port", "unix_socket_dir", "tls"});
  s.get("address", out.address);
  s.get("port", out.port, 1, 65535);
  s.get("unix_socket_dir", out.unix_socket_dir);
  Section tls(s.node("tls"), "listen.tls", errors, {"cert_file", "key_file", "require"});
  tls.get("cert_file", out.tls.cert_file);
  tls.get("key_file", out.tls.key_file);
  tls.get("require", out.tls.require);
}

void load_upstream(const YAML::Node& n, ErrorSink& errors, Upstream& out) {
  Section s(n, "upstream", errors, {"host", "port", "connect_timeout_ms", "tls"});
  s.get("host", out.host);
  s.get("port", out.port, 1, 65535);
  s.get("connect_timeout_ms", out.connect_timeout_ms, 1, 600000);
  Section tls(s.node("tls"), "upstream.tls", errors, {"mode", "ca_file", "server_name"});
  if (const int m = tls.choice("mode", {"disable", "prefer", "require", "verify-ca", "verify-full"}); m >= 0)
    out.tls.mode = static_cast<UpstreamTlsMode>(m);
  tls.get("ca_file", out.tls.ca_file);
  tls.get("server_name", out.tls.server_name);
}

void load_limits(const YAML::Node& n, ErrorSink& errors, Limits& out) {
  Section s(n, "limits", errors,
            {"max_client_connections", "max_message_bytes", "startup_timeout_ms", "client_idle_timeout_ms",
             "shutdown_grace_ms"});
  s.get("max_client_connections", out.max_client_connections, 1, 1000000);
  s.get("max_message_bytes", out.max_message_bytes, 8192, 1u << 30);
  s.get("startup_timeout_ms", out.startup_timeout_ms, 100, 3600000);
  s.get("client_idle_timeout_ms", out.client_idle_timeout_ms, 0, 86400000);
  s.get("shutdown_grace_ms", out.shutdown_grace_ms, 0, 3600000);
}

void load_logging(const YAML::Node& n, ErrorSink& errors, Logging& out) {
  Section s(n, "log", errors, {"level", "format"});
  if (const int l = s.choice("level", {"trace", "debug", "info", "warn", "error", "critical", "off"}); l >= 0)
    s.get("level", out.level);
  if (const int f = s.choice("format", {"text", "json"}); f >= 0) out.json = f == 1;
}

void load_audit(const YAML::Node& n, ErrorSink& errors, Audit& out) {
  Section s(n, "audit", errors, {"path", "fail_closed"});
  s.get("path", out.path);
  s.get("fail_closed", out.fail_closed);
}

void load_io(const YAML::Node& n, ErrorSink& errors, Io& out) {
  Section s(n, "io", errors, {"busy_poll_us", "busy_poll_adaptive"});
  s.get("busy_poll_us", out.busy_poll_us, 0, 100000);
  s.get("busy_poll_adaptive", out.busy_poll_adaptive);
}

void load_state(const YAML::Node& n, ErrorSink& errors, State& out) {
  Section s(n, "state", errors, {"path"});
  s.get("path", out.path);
}

}  // namespace

const char* to_string(UpstreamTlsMode m) {
  switch (m) {
    case UpstreamTlsMode::disable: return "disable";
    case UpstreamTlsMode::prefer: return "prefer";
    case UpstreamTlsMode::require: return "require";
    case UpstreamTlsMode::verify_ca: return "verify-ca";
    case UpstreamTlsMode::verify_full: return "verify-full";
  }
  return "?";
}

std::string LoadResult::error_text(const std::string& source) const {
  std::string s;
  for (const auto& e : errors) s += source + ": " + e.to_string() + "\n";
  return s;
}

void validate(const Config& c, std::vector<ConfigError>& errors) {
  const auto& t = c.listen.tls;
  if (t.cert_file.empty() != t.key_file.empty())
    errors.push_back({"listen.tls", 0, "cert_file and key_file must be given together"});
  if (t.require && t.cert_file.empty())
    errors.push_back({"listen.tls.require", 0, "requires listen.tls.cert_file and key_file"});
  if (c.upstream.host.empty()) errors.push_back({"upstream.host", 0, "must not be empty"});
  const auto& dir = c.listen.unix_socket_dir;
  if (!dir.empty() && dir.front() != '/')
    errors.push_back({"listen.unix_socket_dir", 0, "must be an absolute path, got '" + dir + "'"});
  const std::string too_long =
      "is too long for a Unix socket path (at most " + std::to_string(kMaxSocketDirBytes) + " bytes)";
  if (dir.size() > kMaxSocketDirBytes) errors.push_back({"listen.unix_socket_dir", 0, too_long});
  if (c.upstream.is_unix_socket() && c.upstream.host.size() > kMaxSocketDirBytes)
    errors.push_back({"upstream.host", 0, too_long});
  if (c.state.path.empty()) errors.push_back({"state.path", 0, "must not be empty"});
  if (c.audit.fail_closed && c.audit.path.empty())
    errors.push_back({"audit.fail_closed", 0, "requires audit.path (there is no audit log to fail on)"});
  validate_approvals(c, errors);
  // PostgreSQL never offers TLS on a Unix socket (libpq ignores sslmode there); a mode that
  // demands it could never be met, so say so now rather than at the first connection.
  using M = UpstreamTlsMode;
  const auto mode = c.upstream.tls.mode;
  if (c.upstream.is_unix_socket() && mode != M::disable && mode != M::prefer)
    errors.push_back({"upstream.tls.mode", 0,
                      std::string("'") + to_string(mode) + "' cannot be met over a Unix socket (upstream.host '" +
                          c.upstream.host + "'); use disable or prefer"});
}

LoadResult load_config_text(const std::string& yaml_text) {
  LoadResult result;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    result.errors.push_back({"", e.mark.line >= 0 ? e.mark.line + 1 : 0, "invalid YAML: " + e.msg});
    return result;
  }
  ErrorSink errors;
  try {
    Section top(root, "", errors, {"listen", "upstream", "limits", "log", "audit", "workers", "io", "policy", "state", "admin", "approvals"});
    if (top.valid()) {
      load_listen(top.node("listen"), errors, result.config.listen);
      load_upstream(top.node("upstream"), errors, result.config.upstream);
      load_limits(top.node("limits"), errors, result.config.limits);
      load_logging(top.node("log"), errors, result.config.log);
      load_audit(top.node("audit"), errors, result.config.audit);
      top.get("workers", result.config.workers, 0, 256, true);
      load_io(top.node("io"), errors, result.config.io);
      load_policy_section(top.node("policy"), errors, result.config.policy);
      load_state(top.node("state"), errors, result.config.state);
      load_admin_section(top.node("admin"), errors, result.config.admin);
      load_approvals_section(top.node("approvals"), errors, result.config.approvals);
    }
  } catch (const YAML::Exception& e) {  // defensive: a yaml-cpp conversion we did not foresee
    errors.add("", e.mark.line >= 0 ? e.mark.line + 1 : 0, e.msg);
  }
  result.errors = errors.errors();
  validate(result.config, result.errors);
  return result;
}

LoadResult load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult r;
    r.errors.push_back({"", 0, "cannot read configuration file"});
    return r;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return load_config_text(ss.str());
}

}  // namespace schemagate::config
