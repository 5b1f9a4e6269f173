#include "proxy/console/command.h"

#include <cctype>

namespace schemagate::proxy::console {

namespace {

struct Token {
  enum Kind { word, string, semicolon, end } kind = end;
  std::string text;  // word: upper-cased; string: the value with '' undone
};

/// Splits the text into words, strings and ';'. False (with `error`) on anything else.
bool tokenize(std::string_view text, std::vector<Token>& out, std::string& error) {
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '-' && i + 1 < text.size() && text[i + 1] == '-') {
      while (i < text.size() && text[i] != '\n') ++i;  // comment to the end of the line
    } else if (c == ';') {
      out.push_back({Token::semicolon, ";"});
      ++i;
    } else if (c == '\'') {
      std::string value;
      ++i;
      for (;;) {
        if (i >= text.size()) {
          error = "unterminated quoted string";
          return false;
        }
        if (text[i] == '\'') {
          if (i + 1 < text.size() && text[i + 1] == '\'') {
            value += '\'';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        value += text[i++];
      }
      out.push_back({Token::string, std::move(value)});
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      std::string word;
      while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_'))
        word += static_cast<char>(std::toupper(static_cast<unsigned char>(text[i++])));
      out.push_back({Token::word, std::move(word)});
    } else {
      error = std::string("syntax error at or near \"") + c + "\"";
      return false;
    }
  }
  out.push_back({Token::end, {}});
  return true;
}

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : t_(tokens) {}

  bool at_end() const { return t_[at_].kind == Token::end; }
  bool skip_semicolons() {
    bool any = false;
    while (t_[at_].kind == Token::semicolon) {
      ++at_;
      any = true;
    }
    return any;
  }

  /// One command, up to (not including) the next ';' or the end.
  bool command(Command& out, std::string& error) {
    const std::string verb = word();
    if (verb.empty()) return fail(error, "expected a command (try SHOW HELP)");
    if (verb == "SHOW") {
      const std::string what = word();
      static const struct {
        const char* name;
        Verb verb;
      } kShows[] = {{"REQUESTS", Verb::show_requests}, {"MIGRATIONS", Verb::show_migrations},
                    {"CLIENTS", Verb::show_clients},   {"SERVERS", Verb::show_servers},
                    {"STATS", Verb::show_stats},       {"CONFIG", Verb::show_config},
                    {"VERSION", Verb::show_version},   {"HELP", Verb::show_help}};
      if (what == "REQUEST") {
        out.verb = Verb::show_request;
        if (!id(out.argument)) return fail(error, "SHOW REQUEST needs a request id: SHOW REQUEST 'id'");
        return finish(error);
      }
      for (const auto& s : kShows) {
        if (what != s.name) continue;
        out.verb = s.verb;
        if (s.verb == Verb::show_requests && t_[at_].kind == Token::word) {
          out.argument = word();
          for (auto& ch : out.argument) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        }
        return finish(error);
      }
      return fail(error, what.empty() ? "SHOW needs what to show (try SHOW HELP)"
                                      : "unknown SHOW target \"" + what + "\" (try SHOW HELP)");
    }
    if (verb == "APPROVE" || verb == "DENY") {
      out.verb = verb == "APPROVE" ? Verb::approve : Verb::deny;
      if (!id(out.argument)) return fail(error, verb + " needs a request id: " + verb + " 'id' REASON '...'");
      if (t_[at_].kind == Token::word && t_[at_].text == "REASON") {
        ++at_;
        if (t_[at_].kind != Token::string) return fail(error, "REASON needs a quoted string: REASON '...'");
        out.reason = t_[at_++].text;
      }
      if (out.verb == Verb::deny && out.reason.empty())
        return fail(error, "DENY needs a non-empty reason: DENY 'id' REASON '...'");
      return finish(error);
    }
    static const struct {
      const char* name;
      Verb verb;
    } kBare[] = {{"RELOAD", Verb::reload}, {"PAUSE", Verb::pause}, {"RESUME", Verb::resume}};
    for (const auto& b : kBare) {
      if (verb != b.name) continue;
      out.verb = b.verb;
      return finish(error);
    }
    return fail(error, "unknown command \"" + verb + "\" (try SHOW HELP)");
  }

 private:
  std::string word() { return t_[at_].kind == Token::word ? t_[at_++].text : std::string(); }
  bool id(std::string& out) {
    // A quoted id, or a bare word (ids are hex, so psql users may leave the quotes off); a
    // bare word keeps its case as typed upper-cased, so lower it back.
    if (t_[at_].kind == Token::string) {
      out = t_[at_++].text;
    } else if (t_[at_].kind == Token::word && t_[at_].text != "REASON") {
      out = t_[at_++].text;
      for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    return !out.empty();
  }
  bool finish(std::string& error) {
    if (t_[at_].kind == Token::semicolon || t_[at_].kind == Token::end) return true;
    return fail(error, "unexpected \"" + t_[at_].text + "\" after the command");
  }
  static bool fail(std::string& error, std::string why) {
    error = std::move(why);
    return false;
  }

  const std::vector<Token>& t_;
  std::size_t at_ = 0;
};

}  // namespace

Script parse_script(std::string_view text) {
  Script out;
  std::vector<Token> tokens;
  if (!tokenize(text, tokens, out.error)) return out;
  Parser p(tokens);
  p.skip_semicolons();
  while (!p.at_end()) {
    Command c;
    if (!p.command(c, out.error)) {
      out.commands.clear();
      return out;
    }
    out.commands.push_back(std::move(c));
    if (!p.skip_semicolons() && !p.at_end()) {
      out.error = "expected ';' between commands";
      out.commands.clear();
      return out;
    }
  }
  return out;
}

}  // namespace schemagate::proxy::console
