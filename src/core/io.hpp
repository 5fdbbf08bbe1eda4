// The Asio vocabulary of the threads that are not proxy workers (the admin listener, the active
// health checker): concrete executor and socket types (no type-erased executor) and coroutines
// that return errors as values. The proxy workers have an event loop of their own (src/loop/).
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sb {

namespace asio = boost::asio;
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<asio::ip::tcp, Executor>;
using Acceptor = asio::basic_socket_acceptor<asio::ip::tcp, Executor>;
template <typename T = void>
using Task = asio::awaitable<T, Executor>;
using ErrorCode = boost::system::error_code;

// Completion token: co_await yields a tuple (error_code, results...) instead of throwing.
inline constexpr auto use_task = asio::as_tuple(asio::use_awaitable_t<Executor>{});

}  // namespace sb
