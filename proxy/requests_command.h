#pragma once
// `schemagate requests list|show|approve|deny`: the approvals CLI, a client of the admin API.
namespace schemagate::proxy {

/// argv after "requests"; returns the exit code (0 ok, 1 refused by the API, 2 usage/connection error).
int requests_command(int argc, char** argv);

}  // namespace schemagate::proxy
