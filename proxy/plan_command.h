#pragma once
#include <iosfwd>
#include <string>
#include <vector>

namespace schemagate::proxy {

/// `schemagate plan [--config F | --policy F] [--dsn CONNINFO] [--format text|json] [--user U] FILE.sql…`
/// (args exclude "plan"): the decision and the phased plan the proxy would run for each
/// statement of each migration file, judged as psql -f would send it. With --dsn the policy
/// reads live catalog facts (table sizes, keys, partitions, constraints) from that database,
/// read-only and without relation locks, exactly as the proxy does; otherwise facts are
/// unknown and the risky case is assumed. Returns 0 on success, 1 when the database cannot be
/// reached, 2 on usage or file errors.
int run_plan_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace schemagate::proxy
