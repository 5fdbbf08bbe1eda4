// Reading and writing whole messages on a loop::Socket, with errors as values: what the session
// uses for every byte it moves. A write goes straight to the kernel (a response usually fits the
// socket buffer at once) and waits for writability only when the buffer is full.
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
Task<size_t> read_some(Socket& socket, std::span<char> into, ErrorCode& ec);

// Writes every byte of the buffers (up to 3), waiting for the socket to drain when it is full.
Task<void> write_all(Socket& socket, std::span<const boost::asio::const_buffer> buffers,
                     ErrorCode& ec);
Task<void> write_all(Socket& socket, std::string_view data, ErrorCode& ec);

}  // namespace sb::loop
