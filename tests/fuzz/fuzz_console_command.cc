// Arbitrary text as an admin console query: the parser accepts it or names an error, never
// crashes, and what it accepts means the same when written back out and parsed again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/console/command.h"

using namespace schemagate::proxy::console;

namespace {

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (const char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string render(const Command& c) {
  switch (c.verb) {
    case Verb::show_requests: return "SHOW REQUESTS " + c.argument;
    case Verb::show_request: return "SHOW REQUEST " + quoted(c.argument);
    case Verb::show_migrations: return "SHOW MIGRATIONS";
    case Verb::show_clients: return "SHOW CLIENTS";
    case Verb::show_servers: return "SHOW SERVERS";
    case Verb::show_stats: return "SHOW STATS";
    case Verb::show_config: return "SHOW CONFIG";
    case Verb::show_version: return "SHOW VERSION";
    case Verb::show_help: return "SHOW HELP";
    case Verb::approve: return "APPROVE " + quoted(c.argument) + (c.reason.empty() ? "" : " REASON " + quoted(c.reason));
    case Verb::deny: return "DENY " + quoted(c.argument) + " REASON " + quoted(c.reason);
    case Verb::reload: return "RELOAD";
    case Verb::pause: return "PAUSE";
    case Verb::resume: return "RESUME";
  }
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto script = parse_script(text);
  if (!script.error.empty()) {
    if (!script.commands.empty()) std::abort();  // an error never comes with half a script
    return 0;
  }
  std::string again;
  for (const auto& c : script.commands) {
    const bool needs_id = c.verb == Verb::show_request || c.verb == Verb::approve || c.verb == Verb::deny;
    if (needs_id && c.argument.empty()) std::abort();
    if (c.verb == Verb::deny && c.reason.empty()) std::abort();
    again += render(c) + ";\n";
  }
  const auto reparsed = parse_script(again);
  if (!reparsed.error.empty() || reparsed.commands.size() != script.commands.size()) std::abort();
  for (std::size_t i = 0; i < script.commands.size(); ++i) {
    const auto& a = script.commands[i];
    const auto& b = reparsed.commands[i];
    if (a.verb != b.verb || a.argument != b.argument || a.reason != b.reason) std::abort();
  }
  return 0;
}
