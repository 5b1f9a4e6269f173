#include "config/loader.h"

#include <gtest/gtest.h>

namespace schemagate::config {
namespace {

TEST(LoadConfig, EmptyDocumentGivesDefaults) {
  const auto r = load_config_text("");
  ASSERT_TRUE(r.ok()) << r.error_text("t");
  EXPECT_EQ(r.config.listen.port, 6432);
  EXPECT_EQ(r.config.upstream.port, 5432);
  EXPECT_EQ(r.config.upstream.tls.mode, UpstreamTlsMode::prefer);
}

TEST(LoadConfig, ReadsEveryProxySection) {
  const auto r = load_config_text(R"(
listen:
  address: 0.0.0.0
  port: 7000
upstream:
  host: db.internal
  port: 5433
  connect_timeout_ms: 2500
  tls:
    mode: verify-full
    ca_file: /etc/ca.pem
limits:
  max_client_connections: 50
  startup_timeout_ms: 2000
workers: 2
log:
  level: debug
)");
  ASSERT_TRUE(r.ok()) << r.error_text("t");
  EXPECT_EQ(r.config.listen.address, "0.0.0.0");
  EXPECT_EQ(r.config.listen.port, 7000);
  EXPECT_EQ(r.config.upstream.host, "db.internal");
  EXPECT_EQ(r.config.upstream.port, 5433);
  EXPECT_EQ(r.config.upstream.connect_timeout_ms, 2500u);
  EXPECT_EQ(r.config.upstream.tls.mode, UpstreamTlsMode::verify_full);
  EXPECT_EQ(r.config.upstream.tls.ca_file, "/etc/ca.pem");
  EXPECT_EQ(r.config.limits.max_client_connections, 50u);
  EXPECT_EQ(r.config.limits.startup_timeout_ms, 2000u);
  EXPECT_EQ(r.config.workers, 2u);
  EXPECT_EQ(r.config.log.level, "debug");
}

// The operator must be told which key on which line is wrong.
TEST(LoadConfig, UnknownKeyIsNamedWithItsLine) {
  const auto r = load_config_text("listen:\n  port: 6432\n  adress: 0.0.0.0\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].key, "listen.adress");
  EXPECT_EQ(r.errors[0].line, 3);
  EXPECT_NE(r.errors[0].to_string().find("unknown key"), std::string::npos);
}

TEST(LoadConfig, BadValuesAreNamedWithTheirLines) {
  const auto r = load_config_text("upstream:\n  port: 99999\n  tls:\n    mode: sometimes\nworkers: many\n");
  ASSERT_EQ(r.errors.size(), 3u) << r.error_text("t");
  EXPECT_EQ(r.errors[0].to_string(), "upstream.port (line 2): expected an integer from 1 to 65535, got '99999'");
  EXPECT_EQ(r.errors[1].key, "upstream.tls.mode");
  EXPECT_EQ(r.errors[1].line, 4);
  EXPECT_NE(r.errors[1].message.find("verify-full"), std::string::npos);
  EXPECT_EQ(r.errors[2].key, "workers");
  EXPECT_EQ(r.errors[2].line, 5);
}

TEST(LoadConfig, SectionMustBeAMapping) {
  const auto r = load_config_text("listen: 6432\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.errors[0].key, "listen");
  EXPECT_EQ(r.errors[0].line, 1);
}

TEST(LoadConfig, InvalidYamlReportsItsLine) {
  const auto r = load_config_text("listen:\n  port: [6432\n");
  ASSERT_FALSE(r.ok());
  EXPECT_GT(r.errors[0].line, 0);
  EXPECT_NE(r.errors[0].message.find("invalid YAML"), std::string::npos);
}

TEST(LoadConfig, TlsKeyWithoutCertificateIsRefused) {
  const auto r = load_config_text("listen:\n  tls:\n    key_file: /k.pem\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.errors[0].key, "listen.tls");
  const auto r2 = load_config_text("listen:\n  tls:\n    require: true\n");
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.errors[0].key, "listen.tls.require");
}

TEST(LoadConfig, BusyPollWindowIsReadAndBounded) {
  EXPECT_EQ(load_config_text("").config.io.busy_poll_us, 25u);
  EXPECT_TRUE(load_config_text("").config.io.busy_poll_adaptive);
  EXPECT_FALSE(load_config_text("io:\n  busy_poll_adaptive: false\n").config.io.busy_poll_adaptive);
  const auto r = load_config_text("io:\n  busy_poll_us: 150\n");
  ASSERT_TRUE(r.ok()) << r.error_text("t");
  EXPECT_EQ(r.config.io.busy_poll_us, 150u);
  const auto bad = load_config_text("io:\n  busy_poll_us: -1\n  spin: yes\n");
  ASSERT_EQ(bad.errors.size(), 2u) << bad.error_text("t");
  EXPECT_EQ(bad.errors[0].key, "io.spin");  // unknown keys are reported first
  EXPECT_EQ(bad.errors[1].to_string(), "io.busy_poll_us (line 2): expected an integer from 0 to 100000, got '-1'");
}

// libpq's convention: a host starting with '/' is the directory of the server's socket.
TEST(LoadConfig, UnixSocketUpstreamIsADirectoryAndRefusesTlsItCannotGet) {
  const auto r = load_config_text("upstream:\n  host: /var/run/postgresql\n  port: 5433\n");
  ASSERT_TRUE(r.ok()) << r.error_text("t");
  EXPECT_TRUE(r.config.upstream.is_unix_socket());
  EXPECT_EQ(r.config.upstream.describe(), "/var/run/postgresql/.s.PGSQL.5433");
  EXPECT_FALSE(load_config_text("upstream:\n  host: db\n").config.upstream.is_unix_socket());
  EXPECT_EQ(load_config_text("upstream:\n  host: db\n").config.upstream.describe(), "db:5432");

  for (const char* mode : {"require", "verify-ca", "verify-full"}) {
    const auto bad =
        load_config_text(std::string("upstream:\n  host: /run/pg\n  tls:\n    mode: ") + mode + "\n");
    ASSERT_EQ(bad.errors.size(), 1u) << mode;
    EXPECT_EQ(bad.errors[0].key, "upstream.tls.mode");
    EXPECT_NE(bad.errors[0].message.find("Unix socket"), std::string::npos) << bad.errors[0].message;
  }
  EXPECT_TRUE(load_config_text("upstream:\n  host: /run/pg\n  tls:\n    mode: disable\n").ok());

  // A directory whose socket path would not fit in sockaddr_un is refused here, not at the
  // first client's connection.
  const auto too_long = load_config_text("upstream:\n  host: /" + std::string(100, 'd') + "\n");
  ASSERT_EQ(too_long.errors.size(), 1u) << too_long.error_text("t");
  EXPECT_EQ(too_long.errors[0].key, "upstream.host");
  EXPECT_NE(too_long.errors[0].message.find("too long"), std::string::npos);
}

TEST(LoadConfig, UnixSocketListenerNeedsAnAbsoluteShortPath) {
  const auto r = load_config_text("listen:\n  port: 7000\n  unix_socket_dir: /run/schemagate\n");
  ASSERT_TRUE(r.ok()) << r.error_text("t");
  EXPECT_EQ(r.config.listen.unix_socket_path(7000), "/run/schemagate/.s.PGSQL.7000");
  const auto relative = load_config_text("listen:\n  unix_socket_dir: run/schemagate\n");
  ASSERT_EQ(relative.errors.size(), 1u);
  EXPECT_EQ(relative.errors[0].key, "listen.unix_socket_dir");
  const auto too_long = load_config_text("listen:\n  unix_socket_dir: /" + std::string(100, 'd') + "\n");
  ASSERT_EQ(too_long.errors.size(), 1u);
  EXPECT_NE(too_long.errors[0].message.find("too long"), std::string::npos);
}

TEST(LoadConfig, StateSectionNamesTheJournalFile) {
  EXPECT_EQ(load_config_text("").config.state.path, "schemagate-state.db");
  const auto r = load_config_text("state:\n  path: /var/lib/schemagate/state.db\n");
  ASSERT_TRUE(r.ok()) << r.error_text("t");
  EXPECT_EQ(r.config.state.path, "/var/lib/schemagate/state.db");
  EXPECT_TRUE(load_config_text("state:\n  path: ':memory:'\n").ok());
}

TEST(LoadConfig, StateSectionRefusesUnknownKeysAndAnEmptyPath) {
  const auto unknown = load_config_text("state:\n  path: s.db\n  file: s.db\n");
  ASSERT_EQ(unknown.errors.size(), 1u) << unknown.error_text("t");
  EXPECT_EQ(unknown.errors[0].key, "state.file");
  EXPECT_EQ(unknown.errors[0].line, 3);
  EXPECT_NE(unknown.errors[0].message.find("known keys: path"), std::string::npos) << unknown.errors[0].message;

  const auto scalar = load_config_text("state: /var/lib/s.db\n");
  ASSERT_EQ(scalar.errors.size(), 1u) << scalar.error_text("t");
  EXPECT_EQ(scalar.errors[0].key, "state");
  EXPECT_EQ(scalar.errors[0].line, 1);

  const auto list = load_config_text("state:\n  path: [a, b]\n");
  ASSERT_EQ(list.errors.size(), 1u) << list.error_text("t");
  EXPECT_EQ(list.errors[0].to_string(), "state.path (line 2): expected a string");

  const auto empty = load_config_text("state:\n  path: ''\n");
  ASSERT_EQ(empty.errors.size(), 1u) << empty.error_text("t");
  EXPECT_EQ(empty.errors[0].to_string(), "state.path: must not be empty");
}

TEST(LoadConfig, UnreadableFileIsOneError) {
  const auto r = load_config_file("/nonexistent/schemagate.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.error_text("/nonexistent/schemagate.yaml").find("cannot read"), std::string::npos);
}

TEST(LoadConfig, ExampleConfigIsValid) {
  const auto r = load_config_file(SG_SOURCE_DIR "/deploy/schemagate.example.yaml");
  EXPECT_TRUE(r.ok()) << r.error_text("deploy/schemagate.example.yaml");
}

TEST(LoadConfig, AdminConsoleUsersAndDatabases) {
  const auto off = load_config_text("");
  EXPECT_FALSE(off.config.admin.console_enabled());
  EXPECT_EQ(off.config.admin.console_database, "schemagate");
  EXPECT_EQ(off.config.admin.auth_database, "postgres");

  const auto on = load_config_text("admin:\n  users: [dba_ann, dba_joe]\n  console_database: pgadmin\n");
  ASSERT_TRUE(on.ok()) << on.error_text("t");
  EXPECT_TRUE(on.config.admin.console_enabled());
  EXPECT_EQ(on.config.admin.users, (std::vector<std::string>{"dba_ann", "dba_joe"}));
  EXPECT_EQ(on.config.admin.console_database, "pgadmin");

  const auto scalar = load_config_text("admin:\n  users: dba_ann\n");
  ASSERT_EQ(scalar.errors.size(), 1u) << scalar.error_text("t");
  EXPECT_EQ(scalar.errors[0].key, "admin.users");
  EXPECT_EQ(scalar.errors[0].line, 2);

  const auto empty_name = load_config_text("admin:\n  users:\n    - dba_ann\n    - ''\n");
  ASSERT_EQ(empty_name.errors.size(), 1u) << empty_name.error_text("t");
  EXPECT_EQ(empty_name.errors[0].key, "admin.users[1]");
  EXPECT_EQ(empty_name.errors[0].line, 4);

  // The console's name must not shadow the real database its logins are checked against.
  const auto same = load_config_text("admin:\n  users: [a]\n  console_database: postgres\n");
  ASSERT_EQ(same.errors.size(), 1u) << same.error_text("t");
  EXPECT_EQ(same.errors[0].key, "admin.console_database");
  EXPECT_EQ(same.errors[0].line, 3);
}

}  // namespace
}  // namespace schemagate::config
