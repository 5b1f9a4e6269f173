// Objects other than tables cannot be dropped, renamed or have their meaning changed through the
// proxy behind the policy's back (issue 8, class 5): with the built-in policy in enforce mode, each
// statement below is held for approval and, unapproved, ends in SG003 after the short wait this
// proxy is configured with, and the object is unchanged. The same statement sent directly really
// changes it, so each case can fail. Simple and extended protocol.
#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

const char* kSchema = R"(
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE orders (id bigint PRIMARY KEY, tenant text, m mood);
INSERT INTO orders VALUES (1, 'a', 'ok'), (2, 'b', 'sad');
CREATE VIEW order_ids AS SELECT id FROM orders;
CREATE SEQUENCE order_seq;
SELECT setval('order_seq', 100);
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_a ON orders USING (tenant = 'a');
CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER orders_audit BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION audit();
CREATE TABLE owned_by_role (id int);
ALTER TABLE owned_by_role OWNER TO sg_obj_owner;
)";

struct ObjectCase {
  const char* sql;
  const char* probe;   // read directly, as the superuser
  const char* before;  // the probe's value while the object is intact
  const char* after;   // … once the statement has run
};

const ObjectCase kCases[] = {
    {"DROP VIEW order_ids", "SELECT count(*) FROM pg_views WHERE viewname = 'order_ids'", "1", "0"},
    {"CREATE OR REPLACE VIEW order_ids AS SELECT id FROM orders WHERE id > 1", "SELECT count(*) FROM order_ids", "2", "1"},
    {"ALTER TYPE mood RENAME VALUE 'ok' TO 'fine'", "SELECT m::text FROM orders WHERE id = 1", "ok", "fine"},
    {"DROP POLICY tenant_a ON orders", "SELECT count(*) FROM pg_policies WHERE policyname = 'tenant_a'", "1", "0"},
    {"ALTER TABLE orders DISABLE ROW LEVEL SECURITY", "SELECT relrowsecurity::text FROM pg_class WHERE relname = 'orders'",
     "true", "false"},
    {"ALTER SEQUENCE order_seq RESTART", "SELECT last_value FROM order_seq", "100", "1"},
    {"DROP EXTENSION pgcrypto", "SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'", "1", "0"},
    {"DROP OWNED BY sg_obj_owner", "SELECT count(*) FROM pg_class WHERE relname = 'owned_by_role'", "1", "0"},
    {"ALTER TABLE orders DISABLE TRIGGER orders_audit",
     "SELECT tgenabled::text FROM pg_trigger WHERE tgname = 'orders_audit'", "O", "D"},
    {"ALTER VIEW order_ids RENAME TO order_numbers", "SELECT count(*) FROM pg_views WHERE viewname = 'order_ids'", "1",
     "0"},
};

class BypassObjects : public ProxiedPg {
 protected:
  void SetUp() override {
    ASSERT_NE(pg_, nullptr);
    ProxyOptions o;
    o.upstream_port = pg_->port();
    o.policy_mode = "enforce";              // the built-in policy: every rule at its default
    o.config_yaml = "approvals:\n  wait_ms: 1000\n";  // held statements time out quickly (SG003)
    proxy_ = ProxyProcess::start(o);
  }

  static void reset_database() {
    auto admin = direct();
    ASSERT_TRUE(admin.exec("DROP DATABASE IF EXISTS objs WITH (FORCE)").ok);
    // Roles are cluster-wide; the only objects sg_obj_owner owns were in the dropped database.
    ASSERT_TRUE(admin.exec("DROP ROLE IF EXISTS sg_obj_owner").ok);
    ASSERT_TRUE(admin.exec("CREATE ROLE sg_obj_owner").ok);
    ASSERT_TRUE(admin.exec("CREATE DATABASE objs").ok);
    const auto r = direct("dbname=objs").exec(kSchema);
    ASSERT_TRUE(r.ok) << r.message;
  }

  void expect_held_then_direct_changes(const ObjectCase& c, bool extended) {
    SCOPED_TRACE(std::string(c.sql) + (extended ? " (extended protocol)" : " (simple protocol)"));
    ASSERT_NO_FATAL_FAILURE(reset_database());
    auto probe = [&] { return direct("dbname=objs").scalar(c.probe); };
    ASSERT_EQ(probe(), c.before);
    {
      auto client = via_proxy("dbname=objs");
      const auto r = extended ? client.exec_params(c.sql, {}) : client.exec(c.sql);
      EXPECT_FALSE(r.ok);
      EXPECT_EQ(r.sqlstate, "SG003") << r.message;
      EXPECT_EQ(client.scalar("SELECT 'still usable'"), "still usable");
    }
    EXPECT_EQ(probe(), c.before) << "the object changed although the statement was held";
    const auto d = direct("dbname=objs").exec(c.sql);
    ASSERT_TRUE(d.ok) << d.message;
    EXPECT_EQ(probe(), c.after) << "the statement sent directly did not change the object: the case proves nothing";
  }
};

TEST_F(BypassObjects, HeldThroughTheSimpleProtocolAndUnchanged) {
  for (const auto& c : kCases) expect_held_then_direct_changes(c, false);
}

TEST_F(BypassObjects, HeldThroughTheExtendedProtocolAndUnchanged) {
  for (const auto& c : kCases) expect_held_then_direct_changes(c, true);
}

// The lookalikes pass: adding an enum label, commenting, creating a policy.
TEST_F(BypassObjects, HarmlessStatementsPass) {
  ASSERT_NO_FATAL_FAILURE(reset_database());
  auto client = via_proxy("dbname=objs");
  for (const char* sql : {"ALTER TYPE mood ADD VALUE 'ecstatic'", "COMMENT ON VIEW order_ids IS 'ids only'",
                          "CREATE POLICY tenant_b ON orders USING (tenant = 'b')", "ALTER SEQUENCE order_seq CACHE 5"}) {
    const auto r = client.exec(sql);
    EXPECT_TRUE(r.ok) << sql << ": " << r.sqlstate << " " << r.message;
  }
  EXPECT_EQ(direct("dbname=objs").scalar("SELECT count(*) FROM pg_enum WHERE enumlabel = 'ecstatic'"), "1");
}

}  // namespace
}  // namespace schemagate::testing
