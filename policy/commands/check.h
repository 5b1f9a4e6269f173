#pragma once
#include <iosfwd>
#include <string>
#include <vector>

namespace schemagate::policy {

/// `schemagate check [--config F | --policy F] [--format text|json|github] [--pg-version N]
/// [--assume-large-tables] [--table-rows N] FILE.sql…` (args exclude "check" itself).
/// Lints migration files statement by statement. Returns 0 when clean, 1 when a finding is at
/// or above the policy's check.fail_level (syntax errors count), 2 on errors (bad options,
/// unreadable file, invalid policy/config).
int run_check(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace schemagate::policy
