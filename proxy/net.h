#pragma once
// The one place that includes Asio and OpenSSL's Asio layer (also the precompiled header).
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility> (GCC 12 trips on it).
#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

namespace schemagate::proxy {
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
// A stream socket of any family: clients arrive over TCP, the database may be TCP or a Unix socket.
using StreamSocket = boost::asio::generic::stream_protocol::socket;
using boost::system::error_code;
#if defined(BOOST_ASIO_HAS_CO_AWAIT)
// (Absent where the compiler cannot build Asio's coroutines — clang 14 with libstdc++ 12, the
// fuzz build — so that the coroutine-free code including this header still compiles there.)
template <class T = void>
using awaitable = boost::asio::awaitable<T>;
inline constexpr auto use_awaitable = boost::asio::use_awaitable;
#endif
}  // namespace schemagate::proxy
