#pragma once
#include <iosfwd>
#include <string>
#include <vector>

namespace schemagate::proxy {

/// `schemagate migrations list [--state PATH | --config FILE] [--format text|json] [--limit N]`
/// and `schemagate migrations show ID [...]` (args exclude "migrations" itself): the rewrite
/// plans in the plan journal, newest first, or one of them in full. The journal is --state,
/// else --config's state.path, else the default. Returns 0 on success, 1 for an unknown id or
/// an unreadable journal, 2 for a usage error or a journal file that does not exist.
int run_migrations(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace schemagate::proxy
