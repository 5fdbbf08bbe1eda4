// Reading and writing whole messages on a loop::Socket, with errors as values: what the session
// uses for every byte it moves. Writes go through the ring like reads: every send of a loop turn
// reaches the kernel in the turn's one io_uring_enter, where a sendmsg per write cost a syscall
// each (bench/ab_compare.py, 10 rounds: 73.7k against 62.6k requests per CPU-second, and more
// requests/s).
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <span>
#include <string_view>

#include "loop/socket.hpp"
#include "loop/task.hpp"

namespace sb::loop {

using ErrorCode = boost::system::error_code;

// Reads at least one byte into `into`. Returns 0 with `ec` set on error (operation_aborted when
// cancelled); 0 without error means the peer closed.
// `expect_empty` as for Socket::recv.
Task<size_t> read_some(Socket& socket, std::span<char> into, ErrorCode& ec,
                       bool expect_empty = false);

// Like read_some, where the bytes are not copied when the socket streams: `data` is set to where
// the returned count of bytes is (Socket::recv_view); Socket::release_view() once they are used.
Task<size_t> read_view(Socket& socket, std::span<char> into, std::span<char>& data, ErrorCode& ec);

// Writes every byte of the buffers (up to 3); the buffers must stay put until it returns.
// `more` as for Socket::send: more of the message follows at once.
Task<void> write_all(Socket& socket, std::span<const boost::asio::const_buffer> buffers,
                     ErrorCode& ec, bool more = false);
Task<void> write_all(Socket& socket, std::string_view data, ErrorCode& ec, bool more = false);

}  // namespace sb::loop
