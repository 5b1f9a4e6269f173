#pragma once
// The `admin:` and `approvals:` sections: the admin HTTP listener, approver tokens, and how
// held statements are approved (waits, validity, store, webhooks).
#include "config/model.h"
#include "config/yaml_section.h"

namespace schemagate::config {

void load_admin_section(const YAML::Node& n, ErrorSink& errors, Admin& out);
void load_approvals_section(const YAML::Node& n, ErrorSink& errors, Approvals& out);
/// Cross-field checks of both sections (called by validate()).
void validate_approvals(const Config& c, std::vector<ConfigError>& errors);

}  // namespace schemagate::config
