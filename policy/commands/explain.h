#pragma once
#include <iosfwd>
#include <string>
#include <vector>

namespace schemagate::policy {

/// `schemagate explain [--config F | --policy F] [--format text|json] [--pg-version N]
/// [--in-transaction] [--table-rows N] [--assume-large-tables] [--user U] "SQL"` (args exclude
/// "explain"). Judges the SQL as one client message and prints, per statement, the decision, the
/// rules, the explanation and the plan. Returns 0 on success, 2 on errors.
int run_explain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace schemagate::policy
