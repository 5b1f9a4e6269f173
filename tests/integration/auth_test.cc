// Authentication stays end-to-end through schemagate: the database authenticates each real
// user with its own method (trust, cleartext password, md5, SCRAM-SHA-256).
#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

class Auth : public ProxiedPg {
 protected:
  static void SetUpTestSuite() {
    StartCluster(PgClusterOptions{
        .hba = {"local all all trust", "host all u_trust 127.0.0.1/32 trust",
                "host all u_password 127.0.0.1/32 password", "host all u_md5 127.0.0.1/32 md5",
                "host all u_scram 127.0.0.1/32 scram-sha-256", "host all postgres 127.0.0.1/32 trust"},
        .conf = {"log_connections = on"},
        .max_connections = 100,
    });
    auto d = pq_connect_ok(pg_->conninfo());
    for (const char* sql : {
             "CREATE ROLE u_trust LOGIN",
             "SET password_encryption = 'scram-sha-256'; CREATE ROLE u_password LOGIN PASSWORD 'clear pw'",
             "SET password_encryption = 'md5'; CREATE ROLE u_md5 LOGIN PASSWORD 'md5 pw'",
             "SET password_encryption = 'scram-sha-256'; CREATE ROLE u_scram LOGIN PASSWORD 'scram pw'",
         }) {
      const auto r = d.exec(sql);
      ASSERT_TRUE(r.ok) << sql << ": " << r.message;
    }
  }

  // Trace logging: even the most verbose log must not contain passwords.
  std::string proxy_yaml() const override { return "log:\n  level: trace\n"; }

  std::string as(const std::string& user, const std::string& password = "") const {
    std::string extra = "user=" + user + " passfile=/dev/null";
    if (!password.empty()) extra += " password='" + password + "'";
    return proxy_->conninfo(extra);
  }
};

TEST_F(Auth, StoredPasswordsUseTheMethodEachUserWasCreatedWith) {
  auto d = direct();
  EXPECT_EQ(d.scalar("SELECT left(rolpassword, 3) FROM pg_authid WHERE rolname = 'u_md5'"), "md5");
  EXPECT_EQ(d.scalar("SELECT left(rolpassword, 13) FROM pg_authid WHERE rolname = 'u_scram'"), "SCRAM-SHA-256");
}

TEST_F(Auth, EachMethodLogsInThroughTheProxy) {
  struct Case {
    std::string user, password, method;
  };
  for (const Case& c : {Case{"u_trust", "", "trust"}, Case{"u_password", "clear pw", "password"},
                        Case{"u_md5", "md5 pw", "md5"}, Case{"u_scram", "scram pw", "scram-sha-256"}}) {
    auto r = pq_connect(as(c.user, c.password));
    ASSERT_TRUE(r.ok()) << c.user << ": " << r.error;
    EXPECT_EQ(r.conn.scalar("SELECT current_user"), c.user);
    if (c.method != "trust") {
      // The server itself ran the exchange (PostgreSQL 15 logs the method it authenticated with).
      const std::string line = "identity=\"" + c.user + "\" method=" + c.method;
      EXPECT_TRUE(eventually([&] { return pg_->server_log().find(line) != std::string::npos; }, 5s))
          << "server log lacks: " << line;
    }
  }
}

TEST_F(Auth, WrongPasswordIsRefusedWith28P01ForEveryMethod) {
  for (const char* user : {"u_password", "u_md5", "u_scram"}) {
    const auto r = pq_connect(as(user, "not the password"));
    EXPECT_FALSE(r.ok()) << user;
    EXPECT_EQ(r.sqlstate, "28P01") << user << ": " << r.error;
    EXPECT_NE(r.error.find("password authentication failed"), std::string::npos) << r.error;
  }
}

TEST_F(Auth, AFailedLoginDoesNotDisturbOtherSessions) {
  auto alice = pq_connect(as("u_scram", "scram pw"));
  ASSERT_TRUE(alice.ok()) << alice.error;
  ASSERT_TRUE(alice.conn.exec("BEGIN; CREATE TEMP TABLE t AS SELECT 1 AS x").ok);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(pq_connect(as("u_md5", "wrong")).sqlstate, "28P01");
    EXPECT_EQ(pq_connect(as("u_scram", "wrong")).sqlstate, "28P01");
    EXPECT_EQ(pq_connect(as("nobody_here")).sqlstate, "28000");  // no pg_hba.conf entry
  }
  EXPECT_EQ(alice.conn.scalar("SELECT x FROM t"), "1");
  EXPECT_TRUE(alice.conn.exec("COMMIT").ok);
  auto bob = pq_connect(as("u_md5", "md5 pw"));
  EXPECT_TRUE(bob.ok()) << bob.error;
}

TEST_F(Auth, MissingPasswordIsAskedForAndNotInvented) {
  const auto r = pq_connect(as("u_scram"));
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("no password supplied"), std::string::npos) << r.error;
}

TEST_F(Auth, PasswordsDoNotAppearInTheProxyLog) {
  ASSERT_TRUE(pq_connect(as("u_password", "clear pw")).ok());
  ASSERT_FALSE(pq_connect(as("u_password", "leaky secret")).ok());
  const std::string log = proxy_->log();
  EXPECT_EQ(log.find("clear pw"), std::string::npos);
  EXPECT_EQ(log.find("leaky secret"), std::string::npos);
}

}  // namespace
}  // namespace schemagate::testing
