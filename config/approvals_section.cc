#include "config/approvals_section.h"

#include <fstream>
#include <sstream>

namespace schemagate::config {
namespace {

/// The whole file, without a trailing newline (a Kubernetes Secret mounted as a file often
/// has one); false if it cannot be read.
bool read_secret_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return true;
}

bool valid_approver_name(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (const char c : s)
    if (static_cast<unsigned char>(c) < 0x21 || c == ':' || c == 0x7f) return false;
  return true;
}

void add_token(const std::string& key, int line, ErrorSink& errors, Admin& out, AdminToken t) {
  if (!valid_approver_name(t.approver)) {
    errors.add(key, line, "approver must be 1-128 printable characters without spaces or ':'");
    return;
  }
  if (t.token.size() < 16) {
    errors.add(key, line, "token must be at least 16 characters (use e.g. `openssl rand -hex 32`)");
    return;
  }
  for (const auto& other : out.tokens)
    if (other.token == t.token) {
      errors.add(key, line, "the same token is given to two approvers");
      return;
    }
  out.tokens.push_back(std::move(t));
}

void load_tokens_file(const std::string& key, int line, ErrorSink& errors, Admin& out) {
  std::ifstream in(out.tokens_file);
  if (!in) {
    errors.add(key, line, "cannot read '" + out.tokens_file + "'");
    return;
  }
  std::string text;
  int n = 0;
  while (std::getline(in, text)) {
    ++n;
    while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.pop_back();
    if (text.empty() || text.front() == '#') continue;
    const auto colon = text.find(':');
    const std::string where = key + " (" + out.tokens_file + " line " + std::to_string(n) + ")";
    if (colon == std::string::npos) {
      errors.add(where, line, "expected 'approver:token'");
      continue;
    }
    add_token(where, line, errors, out, AdminToken{text.substr(0, colon), text.substr(colon + 1)});
  }
}

void load_console_users(const YAML::Node& users, ErrorSink& errors, std::vector<std::string>& out) {
  if (!users.IsDefined() || users.IsNull()) return;
  if (!users.IsSequence()) {
    errors.add("admin.users", users, "expected a list of database user names");
    return;
  }
  for (std::size_t i = 0; i < users.size(); ++i) {
    const std::string key = "admin.users[" + std::to_string(i) + "]";
    if (!users[i].IsScalar() || users[i].Scalar().empty()) {
      errors.add(key, users[i], "expected a database user name");
      continue;
    }
    out.push_back(users[i].Scalar());
  }
}

}  // namespace

void load_admin_section(const YAML::Node& n, ErrorSink& errors, Admin& out) {
  Section s(n, "admin", errors, {"address", "port", "tls", "public_url", "tokens", "tokens_file", "max_body_bytes", "users",
                                     "console_database", "auth_database"});
  s.get("address", out.address);
  s.get("port", out.port, 0, 65535);
  s.get("public_url", out.public_url);
  s.get("max_body_bytes", out.max_body_bytes, 1024, 16u << 20);
  load_console_users(s.node("users"), errors, out.users);
  s.get("console_database", out.console_database);
  s.get("auth_database", out.auth_database);
  if (out.console_database.empty()) errors.add("admin.console_database", s.node("console_database"), "must not be empty");
  if (out.auth_database.empty()) errors.add("admin.auth_database", s.node("auth_database"), "must not be empty");
  if (!out.console_database.empty() && out.console_database == out.auth_database)
    errors.add("admin.console_database", s.node("console_database"),
               "must differ from admin.auth_database (that one is a real database the upstream authenticates against)");
  Section tls(s.node("tls"), "admin.tls", errors, {"cert_file", "key_file"});
  tls.get("cert_file", out.tls.cert_file);
  tls.get("key_file", out.tls.key_file);
  const auto tokens = s.node("tokens");
  if (tokens.IsDefined() && !tokens.IsNull()) {
    if (!tokens.IsSequence()) {
      errors.add("admin.tokens", tokens, "expected a list of {approver, token}");
    } else {
      for (std::size_t i = 0; i < tokens.size(); ++i) {
        const std::string key = "admin.tokens[" + std::to_string(i) + "]";
        Section t(tokens[i], key, errors, {"approver", "token"});
        if (!t.valid()) continue;
        AdminToken tok;
        t.get("approver", tok.approver);
        t.get("token", tok.token);
        add_token(key, line_of(tokens[i]), errors, out, std::move(tok));
      }
    }
  }
  s.get("tokens_file", out.tokens_file);
  if (!out.tokens_file.empty()) load_tokens_file("admin.tokens_file", line_of(s.node("tokens_file")), errors, out);
}

void load_approvals_section(const YAML::Node& n, ErrorSink& errors, Approvals& out) {
  Section s(n, "approvals", errors,
            {"wait_ms", "wait_in_transaction_ms", "reminder_ms", "request_ttl_ms", "validity_ms", "single_use",
             "approvals_required", "require_distinct_approver", "webhook_queue", "store", "webhooks"});
  s.get("wait_ms", out.wait_ms, 0, 86400000);
  s.get("wait_in_transaction_ms", out.wait_in_transaction_ms, 0, 86400000);
  s.get("reminder_ms", out.reminder_ms, 100, 3600000);
  s.get("request_ttl_ms", out.request_ttl_ms, 1000, 30u * 86400000u);
  s.get("validity_ms", out.validity_ms, 1000, 30u * 86400000u);
  s.get("single_use", out.single_use);
  s.get("approvals_required", out.approvals_required, 1, 10);
  s.get("require_distinct_approver", out.require_distinct_approver);
  s.get("webhook_queue", out.webhook_queue, 1, 1000000);

  Section st(s.node("store"), "approvals.store", errors, {"backend", "path", "dsn", "schema", "poll_ms"});
  if (const int b = st.choice("backend", {"sqlite", "postgres"}); b >= 0)
    out.store.backend = static_cast<ApprovalStore::Backend>(b);
  st.get("path", out.store.path);
  st.get("dsn", out.store.dsn);
  st.get("schema", out.store.schema);
  st.get("poll_ms", out.store.poll_ms, 50, 60000);

  const auto hooks = s.node("webhooks");
  if (!hooks.IsDefined() || hooks.IsNull()) return;
  if (!hooks.IsSequence()) {
    errors.add("approvals.webhooks", hooks, "expected a list of webhooks");
    return;
  }
  for (std::size_t i = 0; i < hooks.size(); ++i) {
    const std::string key = "approvals.webhooks[" + std::to_string(i) + "]";
    Section h(hooks[i], key, errors,
              {"url", "mode", "secret", "secret_file", "timeout_ms", "retries", "fallback", "ca_file"});
    if (!h.valid()) continue;
    Webhook w;
    h.get("url", w.url);
    if (const int m = h.choice("mode", {"notify", "decide"}); m >= 0) w.mode = static_cast<WebhookMode>(m);
    h.get("secret", w.secret);
    h.get("secret_file", w.secret_file);
    h.get("timeout_ms", w.timeout_ms, 100, 120000);
    h.get("retries", w.retries, 0, 20);
    if (const int f = h.choice("fallback", {"pending", "deny"}); f >= 0) w.fallback = static_cast<WebhookFallback>(f);
    h.get("ca_file", w.ca_file);
    const int line = line_of(hooks[i]);
    if (w.url.rfind("http://", 0) != 0 && w.url.rfind("https://", 0) != 0)
      errors.add(key + ".url", line, "must start with http:// or https://, got '" + w.url + "'");
    if (!w.secret_file.empty()) {
      if (!w.secret.empty())
        errors.add(key + ".secret_file", line, "give secret or secret_file, not both");
      else if (!read_secret_file(w.secret_file, w.secret))
        errors.add(key + ".secret_file", line, "cannot read '" + w.secret_file + "'");
    }
    if (w.secret.size() < 16)
      errors.add(key + ".secret", line, "a signing secret of at least 16 characters is required (secret or secret_file)");
    out.webhooks.push_back(std::move(w));
  }
}

void validate_approvals(const Config& c, std::vector<ConfigError>& errors) {
  const auto& a = c.admin;
  if (a.tls.cert_file.empty() != a.tls.key_file.empty())
    errors.push_back({"admin.tls", 0, "cert_file and key_file must be given together"});
  if (!a.public_url.empty() && a.public_url.rfind("http://", 0) != 0 && a.public_url.rfind("https://", 0) != 0)
    errors.push_back({"admin.public_url", 0, "must start with http:// or https://"});
  const auto& st = c.approvals.store;
  if (st.backend == ApprovalStore::Backend::sqlite && st.path.empty())
    errors.push_back({"approvals.store.path", 0, "must not be empty"});
  if (st.backend == ApprovalStore::Backend::postgres && st.dsn.empty())
    errors.push_back({"approvals.store.dsn", 0, "the postgres backend needs a libpq connection string"});
  bool schema_ok = !st.schema.empty() && st.schema.size() <= 63;
  for (const char ch : st.schema)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) schema_ok = false;
  if (!schema_ok)
    errors.push_back({"approvals.store.schema", 0, "must be 1-63 characters of a-z, 0-9 and _"});
}

}  // namespace schemagate::config
