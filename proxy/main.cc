#include "proxy/cli.h"

int main(int argc, char** argv) { return schemagate::proxy::run_cli(argc, argv); }
