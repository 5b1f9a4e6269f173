#pragma once
// A PostgreSQL client over a plain POSIX socket that sends hand-built protocol bytes, for what
// libpq will not do: malformed frames, bad startup packets, forged CancelRequests, silence.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace schemagate::testing {

struct BackendMessage {
  char tag = 0;
  std::string body;
  /// Field of an ErrorResponse/NoticeResponse ('C' SQLSTATE, 'M' message, 'S'/'V' severity), "" if absent.
  std::string field(char code) const;
};

namespace wire {
std::string be32(std::uint32_t v);
/// StartupMessage v3.0 with the given parameters (user, database...).
std::string startup(const std::map<std::string, std::string>& params);
std::string cancel_request(std::uint32_t pid, std::uint32_t key);
std::string ssl_request();
/// A tagged message: tag, int32 length (body + 4), body.
std::string message(char tag, const std::string& body);
std::string query(const std::string& sql);
std::string terminate();
}  // namespace wire

class RawClient {
 public:
  /// Connects to 127.0.0.1:port; throws if the connection is refused.
  static RawClient connect(int port);
  RawClient(RawClient&& o) noexcept : fd_(o.fd_), buf_(std::move(o.buf_)) { o.fd_ = -1; }
  RawClient& operator=(RawClient&&) = delete;
  ~RawClient();

  void send(const std::string& bytes);
  /// Next backend message, or nullopt on EOF / timeout (see closed()).
  std::optional<BackendMessage> read(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Messages up to and including ReadyForQuery ('Z'); stops early on EOF or timeout.
  std::vector<BackendMessage> read_until_ready(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// True once the peer closed the connection (after a read returned nullopt because of EOF).
  bool closed() const { return eof_; }
  /// Waits until the peer closes the connection (discarding what arrives); false on timeout.
  bool wait_closed(std::chrono::milliseconds timeout);

  /// Sends a StartupMessage for a trust-authenticated user and reads until ReadyForQuery.
  /// Returns every message received (AuthenticationOk, ParameterStatus, BackendKeyData, 'Z').
  std::vector<BackendMessage> startup(const std::string& user = "postgres", const std::string& database = "postgres");
  /// Simple query round trip; returns the messages up to 'Z'.
  std::vector<BackendMessage> simple_query(const std::string& sql);

 private:
  explicit RawClient(int fd) : fd_(fd) {}
  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

/// The first ErrorResponse in `msgs`, if any.
std::optional<BackendMessage> first_error(const std::vector<BackendMessage>& msgs);
/// Finds a message by tag.
std::optional<BackendMessage> find_message(const std::vector<BackendMessage>& msgs, char tag);

}  // namespace schemagate::testing
