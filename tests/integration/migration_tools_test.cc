// Real migration tools through an enforcing schemagate: Alembic (Debian's python3-alembic) and
// knex (npm, pinned by tests/tools/knex/package-lock.json) run the migration sets under
// tests/tools/ — tables with 20,000 rows, an index, a foreign key, a uuid column with a volatile
// default and NOT NULL, and a NOT NULL on an existing column — the way a developer meets them:
//   1. the migrations as first written run inside the tool's transaction; the rewrites that
//      cannot start in one (CREATE INDEX → CONCURRENTLY, a backfill) are refused with SG005
//      and the tool's own hint, and the tool's transaction leaves nothing behind;
//   2. the refused migration is replaced by its fix from non_transactional/ (written the way
//      the hint says) and the tool runs again, until the whole set is applied;
//   3. the schema, checked directly on the cluster, is what the statements ask for, reached
//      through the proxy's plans (its log shows each one), without rewriting the table.
// Whether the foreign key and SET NOT NULL (plans whose VALIDATE phase wants its own
// transaction) are refused inside the tool's transaction is recorded, not asserted.
// A tool that is not installed is skipped with a message; nothing passes without running.
#include <iostream>
#include <optional>

#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

const std::string kTools = std::string(SG_SOURCE_DIR) + "/tests/tools";
constexpr auto kToolTimeout = std::chrono::seconds(180);

// What non_transactional_hint() in policy/migration_tools.cc says for each tool, and the part of
// the hint for an unrecognised client that names the tool's switch.
const std::string kAlembicHint = "Alembic: run the operation inside `with op.get_context().autocommit_block():`.";
const std::string kAlembicInGenericHint = "Alembic `autocommit_block()`";
const std::string kKnexHint = "knex: export `config = { transaction: false }` from this migration file.";
const std::string kKnexInGenericHint = "knex `config = { transaction: false }`";

std::string policy_yaml() {
  return "mode: enforce\n"
         "thresholds:\n"
         "  small_table_rows: 1000\n"
         "  lock_timeout: 300ms\n"
         "  retry_attempts: 3\n"
         "  retry_backoff: 100ms\n"
         "  backfill_batch_rows: 1000\n"
         "rules:\n"
         "  require_lock_timeout: pass\n";
}

/// The code a hint tells the developer to write: the text between its first pair of backquotes.
std::string quoted_code(const std::string& hint) {
  const auto a = hint.find('`');
  const auto b = a == std::string::npos ? a : hint.find('`', a + 1);
  return b == std::string::npos ? "" : hint.substr(a + 1, b - a - 1);
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

/// The migrations after the tables (numbers 2…5 in both projects), in the order the tools run them.
struct Step {
  std::string stem;             // the file name after the number
  std::string rule;             // the rule whose plan the proxy runs for it
  bool refused_in_transaction;  // certain: the plan has a phase that cannot run in a transaction block
};
const std::vector<Step> kSteps = {
    {"orders_customer_id_index", "require_concurrent_index", true},  // CREATE INDEX CONCURRENTLY
    {"orders_customer_fk", "add_foreign_key", false},                // NOT VALID + VALIDATE
    {"orders_token", "add_column_volatile_default", true},           // add + backfill + NOT NULL
    {"orders_note_not_null", "set_not_null", false},                 // CHECK NOT VALID + VALIDATE + SET NOT NULL
};

/// True when migration `step` has left its object in the database.
bool step_applied(const PgConn& db, std::size_t step) {
  switch (step) {
    case 0: return db.scalar("SELECT count(*) FROM pg_class WHERE relname = 'orders_customer_id_idx'") == "1";
    case 1: return db.scalar("SELECT count(*) FROM pg_constraint WHERE conname = 'orders_customer_id_fkey'") == "1";
    case 2:
      return db.scalar("SELECT count(*) FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'token' "
                       "AND NOT attisdropped") == "1";
    default:
      return db.scalar("SELECT attnotnull FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'note'") ==
             "t";
  }
}

/// No half-done plan anywhere: no INVALID index, no NOT VALID constraint, no helper CHECK left.
void expect_nothing_half_done(const PgConn& db) {
  EXPECT_EQ(db.scalar("SELECT count(*) FROM pg_index WHERE NOT indisvalid"), "0");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM pg_constraint WHERE NOT convalidated"), "0");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'c'"), "0");
}

/// A developer's working copy of one tool project (a temp copy of tests/tools/<tool>): the
/// migrations as first written, a file replaced by its fix from non_transactional/ when the
/// proxy refuses it.
class ToolProject {
 public:
  explicit ToolProject(int proxy_port) : dir_("sg-tool"), port_(proxy_port) {}
  virtual ~ToolProject() = default;
  virtual std::string name() const = 0;
  virtual std::string hint() const = 0;
  virtual std::string hint_in_generic() const = 0;
  /// Applies migration 1 (the tables) only: the tables the later migrations change exist
  /// (large, analysed) before those run, as in production.
  virtual CommandResult apply_tables() const = 0;
  /// The tool's "migrate to the newest" command; `identified`: it sets application_name.
  virtual CommandResult upgrade(bool identified) const = 0;
  /// A run that prints a failure's SQLSTATE and HINT; nullopt when upgrade() output already does.
  virtual std::optional<CommandResult> upgrade_showing_error_fields(bool identified) const = 0;
  /// Migrations recorded as applied in the tool's bookkeeping table.
  virtual int applied(const PgConn& db) const = 0;
  /// The working copy's file of step `s` (migration s + 2), relative to dir(), and its fix.
  virtual std::string migration(std::size_t s) const = 0;
  virtual std::string fixed_migration(std::size_t s) const = 0;
  /// How the tool's output names the migration that failed.
  virtual std::string failed_marker(std::size_t s) const = 0;
  /// The tool's own bookkeeping is consistent after a failed run (locks released, …).
  virtual void expect_bookkeeping_clean(const PgConn&) const {}

  const std::string& dir() const { return dir_.path(); }
  void apply_fix(std::size_t s) const {
    const auto r = run_command({"cp", dir_.file(fixed_migration(s)), dir_.file(migration(s))});
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

 protected:
  TempDir dir_;
  int port_;
};

std::string number(std::size_t s) { return std::to_string(s + 2); }

class AlembicProject : public ToolProject {
 public:
  AlembicProject(int port, std::string python) : ToolProject(port), python_(std::move(python)) {
    const auto r = run_command({"cp", "-R", kTools + "/alembic/.", dir()});
    if (r.exit_code != 0) ADD_FAILURE() << r.output;
    run_command({"rm", "-rf", dir_.file("__pycache__"), dir_.file("versions/__pycache__")});
  }
  std::string name() const override { return "Alembic"; }
  std::string hint() const override { return kAlembicHint; }
  std::string hint_in_generic() const override { return kAlembicInGenericHint; }
  CommandResult apply_tables() const override { return alembic({"upgrade", "0001"}, true); }
  CommandResult upgrade(bool identified) const override { return alembic({"upgrade", "head"}, identified); }
  // env.py prints "SQLSTATE <code>" for a database error; SQLAlchemy prints psycopg2's message,
  // which has the DETAIL and HINT lines.
  std::optional<CommandResult> upgrade_showing_error_fields(bool) const override { return std::nullopt; }
  int applied(const PgConn& db) const override {
    return std::stoi(db.scalar("SELECT coalesce(max(version_num), '0') FROM alembic_version"));
  }
  std::string migration(std::size_t s) const override { return "versions/000" + number(s) + "_" + kSteps[s].stem + ".py"; }
  std::string fixed_migration(std::size_t s) const override {
    return "non_transactional/000" + number(s) + "_" + kSteps[s].stem + ".py";
  }
  std::string failed_marker(std::size_t s) const override { return migration(s) + "\", line"; }

 private:
  CommandResult alembic(const std::vector<std::string>& args, bool identified) const {
    std::string url = "postgresql+psycopg2://postgres@127.0.0.1:" + std::to_string(port_) + "/app";
    if (identified) url += "?application_name=alembic";
    std::vector<std::string> argv{"env", "-C", dir(), "-u", "PGAPPNAME", "PYTHONDONTWRITEBYTECODE=1",
                                  "DATABASE_URL=" + url, python_, "-m", "alembic"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, kToolTimeout);
  }
  std::string python_;
};

class KnexProject : public ToolProject {
 public:
  explicit KnexProject(int port) : ToolProject(port) {
    const std::string src = kTools + "/knex/";
    const auto r = run_command({"cp", "-R", src + "knexfile.js", src + "migrate.js", src + "package.json",
                                src + "migrations", src + "non_transactional", dir()});
    if (r.exit_code != 0) ADD_FAILURE() << r.output;
    const auto l = run_command({"ln", "-s", src + "node_modules", dir_.file("node_modules")});
    if (l.exit_code != 0) ADD_FAILURE() << l.output;
  }
  std::string name() const override { return "knex"; }
  std::string hint() const override { return kKnexHint; }
  std::string hint_in_generic() const override { return kKnexInGenericHint; }
  CommandResult apply_tables() const override {
    return run(true, {"npx", "--no", "knex", "migrate:up", "20240101000001_create_tables.js"});
  }
  CommandResult upgrade(bool identified) const override {
    return run(identified, {"npx", "--no", "knex", "migrate:latest"});
  }
  // The knex CLI prints only the error's primary message: never the SQLSTATE or the HINT.
  // migrate.js is the same migrate.latest() through knex's API, printing them.
  std::optional<CommandResult> upgrade_showing_error_fields(bool identified) const override {
    return run(identified, {"node", "migrate.js"});
  }
  int applied(const PgConn& db) const override { return std::stoi(db.scalar("SELECT count(*) FROM knex_migrations")); }
  std::string migration(std::size_t s) const override {
    return "migrations/2024010100000" + number(s) + "_" + kSteps[s].stem + ".js";
  }
  std::string fixed_migration(std::size_t s) const override {
    return "non_transactional/2024010100000" + number(s) + "_" + kSteps[s].stem + ".js";
  }
  std::string failed_marker(std::size_t s) const override {
    return "migration file \"2024010100000" + number(s) + "_" + kSteps[s].stem + ".js\" failed";
  }
  void expect_bookkeeping_clean(const PgConn& db) const override {
    EXPECT_EQ(db.scalar("SELECT is_locked FROM knex_migrations_lock"), "0") << "knex left its migration lock taken";
  }

 private:
  CommandResult run(bool identified, const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"env", "-C", dir(), "-u", "PGAPPNAME", "PGHOST=127.0.0.1",
                                  "PGPORT=" + std::to_string(port_), "PGUSER=postgres", "PGDATABASE=app",
                                  "NPM_CONFIG_UPDATE_NOTIFIER=false", "NO_COLOR=1"};
    if (identified) argv.push_back("PGAPPNAME=knex");
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, kToolTimeout);
  }
};

class MigrationTools : public ProxiedPg {
 protected:
  void SetUp() override {
    ASSERT_NE(pg_, nullptr);
    auto admin = direct();
    ASSERT_TRUE(admin.exec("DROP DATABASE IF EXISTS app WITH (FORCE)").ok);
    ASSERT_TRUE(admin.exec("CREATE DATABASE app").ok);
    write_file(policy_dir_.file("policy.yaml"), policy_yaml());
    ProxyOptions o;
    o.upstream_port = pg_->port();
    o.policy_mode = "enforce";
    o.extra_args = {"--policy", policy_dir_.file("policy.yaml")};
    proxy_ = ProxyProcess::start(o);
  }

  /// The whole story for one tool; see the comment at the top of the file.
  void run_migration_set(const ToolProject& p) {
    auto db = direct("dbname=app");
    const auto tables = p.apply_tables();
    ASSERT_EQ(tables.exit_code, 0) << tables.output;
    ASSERT_EQ(p.applied(db), 1) << tables.output;
    ASSERT_EQ(db.scalar("SELECT count(*) FROM orders"), "20000");
    const std::string filenode = db.scalar("SELECT pg_relation_filenode('orders')");

    {
      SCOPED_TRACE(p.name() + " without application_name");
      // A client the proxy cannot recognise: neither tool sets application_name, and each sends
      // its bookkeeping statement on its own, so the hint lists every tool's switch.
      auto shown = p.upgrade_showing_error_fields(false);
      const auto r = shown ? std::move(*shown) : p.upgrade(false);
      EXPECT_NE(r.exit_code, 0) << r.output;
      EXPECT_TRUE(contains(r.output, "SG005")) << r.output;
      EXPECT_TRUE(contains(r.output, p.hint_in_generic())) << r.output;
      EXPECT_FALSE(contains(r.output, p.hint())) << r.output;
      EXPECT_EQ(p.applied(db), 1);
      EXPECT_FALSE(step_applied(db, 0));
    }

    std::vector<bool> fixed(kSteps.size(), false);
    std::vector<std::string> ran_in_transaction, refused_in_transaction;
    std::size_t next = 0;  // the first step not applied yet
    bool finished = false;
    for (std::size_t round = 0; round <= kSteps.size() && !finished; ++round) {
      SCOPED_TRACE(p.name() + " run " + std::to_string(round + 1));
      const auto r = p.upgrade(true);
      const int applied = p.applied(db);
      ASSERT_GE(applied, static_cast<int>(next) + 1) << r.output;
      const auto done = static_cast<std::size_t>(applied - 1);  // steps applied
      for (std::size_t s = next; s < done; ++s) {
        EXPECT_TRUE(step_applied(db, s)) << kSteps[s].stem;
        if (fixed[s]) continue;
        // As first written, inside the tool's transaction, and accepted.
        EXPECT_FALSE(kSteps[s].refused_in_transaction)
            << migration_name(p, s) << " must be refused inside the tool's transaction:\n" << r.output;
        ran_in_transaction.push_back(kSteps[s].stem);
      }
      if (r.exit_code == 0) {
        EXPECT_EQ(done, kSteps.size()) << r.output;
        finished = true;
        break;
      }
      ASSERT_LT(done, kSteps.size()) << "the tool failed after every migration was applied:\n" << r.output;
      ASSERT_FALSE(fixed[done]) << "the non-transactional " << migration_name(p, done) << " failed:\n" << r.output;
      const std::size_t s = done;
      // The tool stopped at this migration, with the proxy's refusal as the error…
      EXPECT_TRUE(contains(r.output, p.failed_marker(s))) << r.output;
      EXPECT_TRUE(contains(r.output, "rejected by rule concurrently_in_transaction")) << r.output;
      EXPECT_TRUE(contains(r.output, "must run outside a transaction block")) << r.output;
      // …and its transaction left nothing behind.
      EXPECT_FALSE(step_applied(db, s)) << migration_name(p, s) << " was not rolled back";
      expect_nothing_half_done(db);
      p.expect_bookkeeping_clean(db);
      // SG005, with the hint for this tool.
      const auto fields = p.upgrade_showing_error_fields(true);
      const std::string& shown = fields ? fields->output : r.output;
      if (fields) {
        EXPECT_NE(fields->exit_code, 0) << shown;
        EXPECT_EQ(p.applied(db), applied) << shown;
      }
      EXPECT_TRUE(contains(shown, "SG005")) << shown;
      EXPECT_TRUE(contains(shown, p.hint())) << shown;
      if (!kSteps[s].refused_in_transaction) refused_in_transaction.push_back(kSteps[s].stem);
      // The fix is the code the hint names.
      const std::string fix = read_file(p.dir() + "/" + p.fixed_migration(s));
      EXPECT_TRUE(contains(fix, quoted_code(p.hint()))) << p.fixed_migration(s) << " does not do what the hint says";
      ASSERT_NO_FATAL_FAILURE(p.apply_fix(s));
      fixed[s] = true;
      next = s;
    }
    ASSERT_TRUE(finished) << p.name() << " never finished the migration set";
    for (std::size_t s : {std::size_t{0}, std::size_t{2}})
      EXPECT_TRUE(fixed[s]) << migration_name(p, s) << " was not refused inside the tool's transaction";
    std::string note = p.name() + ": guarded+online plans inside the tool's transaction: ran [";
    for (const auto& n : ran_in_transaction) note += " " + n;
    note += " ], refused with SG005 [";
    for (const auto& n : refused_in_transaction) note += " " + n;
    note += " ]";
    std::cout << "[   NOTE   ] " << note << std::endl;
    RecordProperty("in_transaction", note);

    // Up to date: running the tool again changes nothing.
    const auto again = p.upgrade(true);
    EXPECT_EQ(again.exit_code, 0) << again.output;
    EXPECT_EQ(p.applied(db), static_cast<int>(kSteps.size()) + 1);

    // The schema the migrations ask for, checked on the cluster.
    EXPECT_EQ(db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 'orders_customer_id_idx'::regclass"), "t");
    EXPECT_EQ(db.scalar("SELECT pg_get_indexdef('orders_customer_id_idx'::regclass)"),
              "CREATE INDEX orders_customer_id_idx ON public.orders USING btree (customer_id)");
    EXPECT_EQ(db.scalar("SELECT format('%s %s %s', contype, convalidated, confrelid::regclass) FROM pg_constraint "
                        "WHERE conname = 'orders_customer_id_fkey'"),
              "f t customers");
    EXPECT_EQ(db.scalar("SELECT format_type(atttypid, atttypmod) || ' ' || attnotnull FROM pg_attribute "
                        "WHERE attrelid = 'orders'::regclass AND attname = 'token'"),
              "uuid true");
    EXPECT_EQ(db.scalar("SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef d JOIN pg_attribute a "
                        "ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
                        "WHERE d.adrelid = 'orders'::regclass AND a.attname = 'token'"),
              "gen_random_uuid()");
    EXPECT_EQ(db.scalar("SELECT count(DISTINCT token) || ' of ' || count(*) FROM orders"), "20000 of 20000");
    EXPECT_EQ(db.scalar("SELECT attnotnull FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'note'"),
              "t");
    expect_nothing_half_done(db);
    // The backfill filled the rows in place: no migration rewrote the table.
    EXPECT_EQ(db.scalar("SELECT pg_relation_filenode('orders')"), filenode);

    // The proxy ran each of them as its plan.
    const std::string log = proxy_->log();
    for (const auto& st : kSteps)
      EXPECT_TRUE(contains(log, "running plan of rule " + st.rule + " for ")) << st.rule << "\n" << log;
    EXPECT_TRUE(contains(log, "reject by rule concurrently_in_transaction")) << log;
  }

  static std::string migration_name(const ToolProject& p, std::size_t s) { return p.name() + " " + p.migration(s); }

  TempDir policy_dir_{"sg-policy"};
};

/// The python3 that has Debian's python3-alembic and python3-psycopg2 (not a pyenv shim's), or "".
std::string alembic_python() {
  for (const char* py : {"/usr/bin/python3", "python3"}) {
    const auto r = run_command({py, "-c", "import alembic, sqlalchemy, psycopg2"}, std::chrono::seconds(60));
    if (r.exit_code == 0) return py;
  }
  return "";
}

TEST_F(MigrationTools, AlembicRevisionsRefusedInItsTransactionPassWithAutocommitBlock) {
  const std::string python = alembic_python();
  if (python.empty())
    GTEST_SKIP() << "Alembic is not installed: no python3 imports alembic, sqlalchemy and psycopg2 "
                    "(Debian packages python3-alembic python3-psycopg2, see deploy/install-deps.sh)";
  AlembicProject project(proxy_->port(), python);
  ASSERT_FALSE(HasFailure());
  run_migration_set(project);
}

TEST_F(MigrationTools, KnexMigrationsRefusedInItsTransactionPassWithTransactionFalse) {
  const auto probe = run_command({"env", "-C", kTools + "/knex", "node", "-e",
                                  "require.resolve('knex/bin/cli.js'); require.resolve('pg'); "
                                  "console.log(require('knex/package.json').version)"},
                                 std::chrono::seconds(60));
  if (probe.exit_code != 0)
    GTEST_SKIP() << "knex is not installed: node cannot load knex and pg from tests/tools/knex/node_modules "
                    "(run tests/tools/install.sh, which needs node, npm and the npm registry): "
                 << probe.output;
  const auto npx = run_command({"npx", "--version"}, std::chrono::seconds(60));
  if (npx.exit_code != 0) GTEST_SKIP() << "knex cannot run: npx is not installed (Debian package npm): " << npx.output;
  KnexProject project(proxy_->port());
  ASSERT_FALSE(HasFailure());
  run_migration_set(project);
}

}  // namespace
}  // namespace schemagate::testing
