#include "proxy/access_log.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "core/thread_name.hpp"

namespace sb::proxy {

namespace {

template <size_t N>
void copy_into(std::array<char, N>& to, std::string_view from) {
  const size_t n = std::min(from.size(), N - 1);
  std::memcpy(to.data(), from.data(), n);
  to[n] = '\0';
}

// JSON string escaping for the few fields that come from the client.
void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (const char c : s) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

// The text format's escaping of a client's string, as nginx's default: '"' and '\\' as \xHH, so
// a quote in a path cannot end the quoted field early and make the line mean something else.
void append_text_escaped(std::string& out, std::string_view s) {
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      fmt::format_to(std::back_inserter(out), "\\x{:02X}", static_cast<unsigned char>(c));
    } else {
      out.push_back(c);
    }
  }
}

void append_ms(std::string& out, int64_t us) {
  if (us < 0) {
    out.append("null");
  } else {
    fmt::format_to(std::back_inserter(out), "{:.3f}", static_cast<double>(us) / 1000.0);
  }
}

}  // namespace

void AccessRecord::set_path(std::string_view p) {
  path_length = static_cast<uint16_t>(std::min(p.size(), path.size()));
  std::memcpy(path.data(), p.data(), path_length);
}
void AccessRecord::copy(std::array<char, 16>& to, std::string_view from) {
  copy_into(to, from);
}
void AccessRecord::copy(std::array<char, 48>& to, std::string_view from) {
  copy_into(to, from);
}
void AccessRecord::copy(std::array<char, 64>& to, std::string_view from) {
  copy_into(to, from);
}

AccessLog::AccessLog(bool enabled, const std::string& path, bool json, unsigned workers)
    : enabled_(enabled), json_(json) {
  if (!enabled_) return;
  if (path == "-") {
    out_ = stdout;
  } else {
    out_ = std::fopen(path.c_str(), "a");
    if (out_ == nullptr) {
      throw std::runtime_error("access_log.path: cannot open " + path + ": " +
                               std::strerror(errno));
    }
    owns_out_ = true;
  }
  for (unsigned i = 0; i < workers; ++i) rings_.push_back(std::make_unique<Ring>());
  writer_ = std::thread([this] {
    name_this_thread("sb-access-log");
    writer_loop();
  });
}

AccessLog::~AccessLog() {
  stop();
  if (owns_out_) std::fclose(out_);
}

void AccessLog::push(unsigned worker, const AccessRecord& record) {
  if (!enabled_) return;
  Ring& ring = *rings_[worker];
  const uint64_t head = ring.head.load(std::memory_order_relaxed);
  if (head - ring.tail.load(std::memory_order_acquire) >= kRingSize) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  ring.slots[head % kRingSize] = record;
  ring.head.store(head + 1, std::memory_order_release);
}

void AccessLog::stop() {
  if (!writer_.joinable()) return;
  stop_.store(true);
  writer_.join();
  drain();
  std::fflush(out_);
}

void AccessLog::writer_loop() {
  // Polling keeps the request path free of wake-up syscalls; 20 ms is well inside what a person
  // tailing the log notices.
  while (!stop_.load(std::memory_order_relaxed)) {
    if (drain() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

size_t AccessLog::drain() {
  size_t written = 0;
  std::string line;
  for (auto& ring : rings_) {
    uint64_t tail = ring->tail.load(std::memory_order_relaxed);
    const uint64_t head = ring->head.load(std::memory_order_acquire);
    for (; tail != head; ++tail) {
      line.clear();
      format(ring->slots[tail % kRingSize], line);
      std::fwrite(line.data(), 1, line.size(), out_);
      ++written;
    }
    ring->tail.store(tail, std::memory_order_release);
  }
  if (written > 0) std::fflush(out_);
  return written;
}

void AccessLog::format(const AccessRecord& r, std::string& line) const {
  const auto time = std::chrono::system_clock::time_point(std::chrono::milliseconds(r.unix_ms));
  const std::string_view path(r.path.data(), r.path_length);
  if (!json_) {
    fmt::format_to(std::back_inserter(line), "{:%Y-%m-%dT%H:%M:%S}Z {} \"{} ", time,
                   r.client.data(), r.method.data());
    append_text_escaped(line, path);
    fmt::format_to(std::back_inserter(line), "\" {} {} {} {} {:.3f}ms {}\n", r.status, r.bytes_in,
                   r.bytes_out, r.upstream[0] != '\0' ? r.upstream.data() : "-",
                   static_cast<double>(r.request_us) / 1000.0, r.attempts);
    return;
  }
  fmt::format_to(
      std::back_inserter(line),
      "{{\"time\":\"{:%Y-%m-%dT%H:%M:%S}Z\",\"client\":\"{}\",\"method\":\"{}\",\"path\":", time,
      r.client.data(), r.method.data());
  append_json_string(line, path);
  fmt::format_to(std::back_inserter(line),
                 ",\"status\":{},\"bytes_in\":{},\"bytes_out\":{},\"upstream\":", r.status,
                 r.bytes_in, r.bytes_out);
  if (r.upstream[0] != '\0') {
    append_json_string(line, r.upstream.data());
  } else {
    line.append("null");
  }
  line.append(",\"upstream_connect_ms\":");
  append_ms(line, r.connect_us);
  line.append(",\"upstream_first_byte_ms\":");
  append_ms(line, r.first_byte_us);
  line.append(",\"upstream_total_ms\":");
  append_ms(line, r.upstream_us);
  line.append(",\"request_ms\":");
  append_ms(line, r.request_us);
  fmt::format_to(std::back_inserter(line), ",\"attempts\":{}}}\n", r.attempts);
}

}  // namespace sb::proxy
