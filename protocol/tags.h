#pragma once
// Message tags, named as in PostgreSQL's src/include/libpq/protocol.h (PqMsg_*).

namespace schemagate::protocol::tag {

// Frontend (client -> server)
inline constexpr char kBind = 'B';
inline constexpr char kClose = 'C';
inline constexpr char kDescribe = 'D';
inline constexpr char kExecute = 'E';
inline constexpr char kFunctionCall = 'F';
inline constexpr char kFlush = 'H';
inline constexpr char kParse = 'P';
inline constexpr char kQuery = 'Q';
inline constexpr char kSync = 'S';
inline constexpr char kTerminate = 'X';
inline constexpr char kCopyFail = 'f';
inline constexpr char kPasswordMessage = 'p';  // also SASLInitialResponse / SASLResponse / GSSResponse

// Both directions
inline constexpr char kCopyData = 'd';
inline constexpr char kCopyDone = 'c';

// Backend (server -> client)
inline constexpr char kParseComplete = '1';
inline constexpr char kBindComplete = '2';
inline constexpr char kCloseComplete = '3';
inline constexpr char kNotificationResponse = 'A';
inline constexpr char kCommandComplete = 'C';
inline constexpr char kDataRow = 'D';
inline constexpr char kErrorResponse = 'E';
inline constexpr char kCopyInResponse = 'G';
inline constexpr char kCopyOutResponse = 'H';
inline constexpr char kEmptyQueryResponse = 'I';
inline constexpr char kBackendKeyData = 'K';
inline constexpr char kNoticeResponse = 'N';
inline constexpr char kAuthentication = 'R';
inline constexpr char kParameterStatus = 'S';
inline constexpr char kRowDescription = 'T';
inline constexpr char kFunctionCallResponse = 'V';
inline constexpr char kCopyBothResponse = 'W';
inline constexpr char kReadyForQuery = 'Z';
inline constexpr char kNoData = 'n';
inline constexpr char kPortalSuspended = 's';
inline constexpr char kParameterDescription = 't';
inline constexpr char kNegotiateProtocolVersion = 'v';

}  // namespace schemagate::protocol::tag

namespace schemagate::protocol {

/// Request codes carried in the version field of untagged startup packets.
inline constexpr unsigned kProtocolVersion3 = 196608;    // 3.0
inline constexpr unsigned kCancelRequestCode = 80877102;  // 1234.5678
inline constexpr unsigned kSslRequestCode = 80877103;     // 1234.5679
inline constexpr unsigned kGssEncRequestCode = 80877104;  // 1234.5680

/// Authentication request subtypes (the Int32 after 'R').
enum class AuthRequest : unsigned {
  ok = 0,
  kerberos_v5 = 2,
  cleartext_password = 3,
  md5_password = 5,
  gss = 7,
  gss_continue = 8,
  sspi = 9,
  sasl = 10,
  sasl_continue = 11,
  sasl_final = 12,
};

}  // namespace schemagate::protocol
