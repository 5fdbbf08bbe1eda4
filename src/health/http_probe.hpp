// One active health check: a GET on a fresh connection, read as far as the status line. Runs on
// the checker's own thread; never on a worker.
#pragma once

#include <chrono>
#include <string>

#include "core/io.hpp"

namespace sb::health {

struct ProbeResult {
  int status = 0;     // 0: no status line (the error says why)
  std::string error;  // "connection refused", "timed out", ...
};

// `request` is the whole request to send ("GET /health HTTP/1.1\r\nHost: ...\r\n\r\n").
Task<ProbeResult> http_probe(asio::ip::tcp::endpoint endpoint, const std::string& request,
                             std::chrono::milliseconds timeout);

// The request an active check sends.
std::string probe_request(const std::string& path, const std::string& host);

}  // namespace sb::health
