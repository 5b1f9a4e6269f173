#pragma once

namespace schemagate::proxy {

/// The `schemagate` command line: serve, config check, check, explain, migrations, --version, --help.
int run_cli(int argc, char** argv);

}  // namespace schemagate::proxy
