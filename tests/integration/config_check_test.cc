// `schemagate config check FILE`, as an operator runs it before deploying a config: exit 0 for a
// valid file, exit 2 with the key and line for a mistake.
#include <tuple>
#include <vector>

#include "tests/integration/it_common.h"

namespace schemagate::testing {
namespace {

class ConfigCheck : public ::testing::Test {
 protected:
  CommandResult check(const std::string& yaml) {
    const std::string path = dir_.file("schemagate.yaml");
    write_file(path, yaml);
    return run_command_split({SG_PROXY_BINARY, "config", "check", path});
  }
  TempDir dir_{"sg-config"};
};

TEST_F(ConfigCheck, ValidFileExitsZero) {
  const auto r = check(R"(listen:
  address: 127.0.0.1
  port: 6432
upstream:
  host: 127.0.0.1
  port: 5432
  connect_timeout_ms: 2000
  tls:
    mode: prefer
limits:
  max_client_connections: 500
  max_message_bytes: 1048576
  startup_timeout_ms: 10000
  client_idle_timeout_ms: 0
  shutdown_grace_ms: 5000
log:
  level: info
workers: 2
)");
  EXPECT_EQ(r.exit_code, 0) << r.output << r.errors;
  EXPECT_NE(r.output.find("OK"), std::string::npos) << r.output;
  EXPECT_EQ(r.errors, "");
}

TEST_F(ConfigCheck, TheShippedExampleConfigIsValid) {
  const auto r = run_command_split(
      {SG_PROXY_BINARY, "config", "check", std::string(SG_SOURCE_DIR) + "/deploy/schemagate.example.yaml"});
  EXPECT_EQ(r.exit_code, 0) << r.output << r.errors;
}

TEST_F(ConfigCheck, UnknownKeyExitsTwoNamingKeyAndLine) {
  const auto r = check("listen:\n  address: 127.0.0.1\n  prot: 6432\nupstream:\n  port: 5432\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.errors.find("listen.prot (line 3)"), std::string::npos) << r.errors;
  EXPECT_NE(r.errors.find("unknown key"), std::string::npos) << r.errors;
}

TEST_F(ConfigCheck, BadValueExitsTwoNamingKeyAndLine) {
  const auto r = check("upstream:\n  host: db\n  tls:\n    mode: sometimes\nlimits:\n  max_client_connections: -5\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.errors.find("upstream.tls.mode (line 4)"), std::string::npos) << r.errors;
  EXPECT_NE(r.errors.find("limits.max_client_connections (line 6)"), std::string::npos) << r.errors;
}

TEST_F(ConfigCheck, ServeRefusesAnInvalidFileWithExitTwo) {
  const std::string path = dir_.file("bad.yaml");
  write_file(path, "limits:\n  startup_timeout_ms: lots\n");
  const auto r = run_command_split({SG_PROXY_BINARY, "serve", "--config", path, "--listen", "127.0.0.1:1"}, 20s);
  EXPECT_EQ(r.exit_code, 2) << r.output << r.errors;
  EXPECT_NE(r.errors.find("limits.startup_timeout_ms (line 2)"), std::string::npos) << r.errors;
}

TEST_F(ConfigCheck, ServeRefusesBadNumbersOnTheCommandLine) {
  for (const auto& [flag, value, range] :
       std::vector<std::tuple<std::string, std::string, std::string>>{{"--workers", "4x", "0 to 256"},
                                                                      {"--workers", "-1", "0 to 256"},
                                                                      {"--workers", "257", "0 to 256"},
                                                                      {"--busy-poll-us", "", "0 to 100000"},
                                                                      {"--busy-poll-us", "100001", "0 to 100000"}}) {
    const auto r = run_command_split({SG_PROXY_BINARY, "serve", "--listen", "127.0.0.1:1", flag, value}, 20s);
    EXPECT_EQ(r.exit_code, 2) << flag << " " << value << ": " << r.output << r.errors;
    EXPECT_NE(r.errors.find(flag + ": expected an integer from " + range + ", got '" + value + "'"),
              std::string::npos)
        << r.errors;
  }
}

TEST_F(ConfigCheck, VersionAndHelp) {
  const auto v = run_command_split({SG_PROXY_BINARY, "--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.output.rfind("schemagate ", 0), 0u) << v.output;
  const auto h = run_command_split({SG_PROXY_BINARY, "--help"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.output.find("schemagate serve"), std::string::npos);
}

}  // namespace
}  // namespace schemagate::testing
