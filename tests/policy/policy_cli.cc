// Test driver standing in for the `schemagate` executable: `policy_cli check|explain ARGS…`.
// The real main dispatches the same way; this lets the statement engine be exercised end to end.
#include <iostream>
#include <string>
#include <vector>

#include "policy/commands/check.h"
#include "policy/commands/explain.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: policy_cli check|explain ARGS...\n";
    return 2;
  }
  const std::string cmd = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "check") return schemagate::policy::run_check(args, std::cout, std::cerr);
  if (cmd == "explain") return schemagate::policy::run_explain(args, std::cout, std::cerr);
  std::cerr << "unknown command " << cmd << "\n";
  return 2;
}
