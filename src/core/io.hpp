// The Asio vocabulary of the proxy: concrete executor and socket types (no type-erased executor on
// the hot path), coroutines that return errors as values, and the read/write helpers that keep
// syscalls per request near the floor of one read and one write per side.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <span>

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

// Reads at least one byte into `into`. Returns 0 with `ec` set on error; 0 without error means
// the peer closed. On io_uring (the default build) the read is a submission queued in the ring and
// sent with the next io_uring_enter, so a wait costs no syscall of its own; on Asio's epoll reactor
// "wait, then read" costs an epoll_ctl per wait and "read first" a recv that finds nothing, about
// two extra syscalls per request (BENCHMARKS.md).
Task<size_t> read_some(Socket& socket, std::span<char> into, ErrorCode& ec);

// Writes every byte of the buffers (up to 3), waiting for the socket to drain when it is full.
// Sockets stay in blocking mode (io_uring reads expect that); writes pass MSG_DONTWAIT instead.
Task<void> write_all(Socket& socket, std::span<const asio::const_buffer> buffers, ErrorCode& ec);
Task<void> write_all(Socket& socket, std::string_view data, ErrorCode& ec);

}  // namespace sb
