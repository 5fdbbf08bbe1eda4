// The floor under any HTTP proxy on this machine: a byte relay on io_uring that does no HTTP work
// at all. Each client connection gets an upstream connection of its own (round robin over the
// backends, made at accept), and bytes go through unchanged both ways: one receive and one send
// per direction per request, the least a proxy can do. It uses the same ring set-up as the
// proxy's workers (src/loop: SINGLE_ISSUER | DEFER_TASKRUN, one io_uring_enter per turn, sends
// through the ring, sockets in the file table, a receive after our own send waits first), so its
// requests per CPU-second bound what switchboard can reach with everything it does on top
// (parsing, routing, pooling, header rewriting, counters) costing nothing.
//
// Not a proxy to use: no HTTP, no timeouts, one upstream connection per client. It takes the
// command line bench/benchlib.py gives switchboard (`serve --listen H:P --backends H:P,... ...`,
// other flags ignored), so bench/proxy_compare.sh and bench/ab_compare.py run it in its place.
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "loop/provided_buffers.hpp"

namespace {

constexpr unsigned kEntries = 4096;
constexpr unsigned kFileSlots = 16384;
constexpr size_t kBufferSize = 16384;

sockaddr_in parse_address(std::string_view text) {
  const size_t colon = text.rfind(':');
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port =
      htons(static_cast<uint16_t>(std::atoi(std::string(text.substr(colon + 1)).c_str())));
  if (colon == std::string_view::npos ||
      inet_pton(AF_INET, std::string(text.substr(0, colon)).c_str(), &address.sin_addr) != 1) {
    std::fprintf(stderr, "relay_floor: bad address '%.*s'\n", static_cast<int>(text.size()),
                 text.data());
    std::exit(2);
  }
  return address;
}

struct Pair;

// RELAY_MULTISHOT=1: each direction keeps one multishot receive armed for the connection's life,
// taking buffers from a ring of provided buffers, instead of one receive per message.
bool multishot = false;
constexpr unsigned kProvided = 1024;
sb::loop::ProvidedBuffers provided;  // the proxy's own ring of provided buffers (src/loop)

struct Chunk {
  uint16_t id;
  size_t length;
};

// One direction of a pair: receive from `from`, send what came to `to`, again.
struct Direction {
  Pair* pair = nullptr;
  int from = -1;  // file-table slots
  int to = -1;
  bool sending = false;
  bool after_send = false;  // the next receive follows our own send the other way
  size_t length = 0;
  size_t sent = 0;
  char buffer[kBufferSize];
  // Multishot mode: received chunks waiting to be sent (the first one is in flight).
  std::deque<Chunk> queue;
  bool ended = false;
};

struct Pair {
  Direction request;   // client -> upstream
  Direction response;  // upstream -> client
  int client_fd = -1;
  int upstream_fd = -1;
  int live = 2;  // directions still running
};

io_uring ring;
std::vector<int> free_slots;

int install(int fd) {
  const int slot = free_slots.back();
  free_slots.pop_back();
  io_uring_register_files_update(&ring, static_cast<unsigned>(slot), &fd, 1);
  return slot;
}

void uninstall(int slot) {
  int none = -1;
  io_uring_register_files_update(&ring, static_cast<unsigned>(slot), &none, 1);
  free_slots.push_back(slot);
}

io_uring_sqe* next_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  while (sqe == nullptr) {
    io_uring_submit(&ring);
    sqe = io_uring_get_sqe(&ring);
  }
  return sqe;
}

void submit_recv(Direction& d) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_recv(sqe, d.from, d.buffer, kBufferSize, 0);
  sqe->flags |= IOSQE_FIXED_FILE;
  if (d.after_send) sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
  io_uring_sqe_set_data(sqe, &d);
  d.sending = false;
}

void submit_send(Direction& d) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_send(sqe, d.to, d.buffer + d.sent, d.length - d.sent, MSG_NOSIGNAL);
  sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data(sqe, &d);
  d.sending = true;
}

void arm_multishot(Direction& d) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_recv_multishot(sqe, d.from, nullptr, 0, 0);
  sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
  sqe->buf_group = sb::loop::ProvidedBuffers::kGroup;
  io_uring_sqe_set_data(sqe, &d);
}

void send_front(Direction& d) {
  const Chunk& chunk = d.queue.front();
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_send(sqe, d.to, provided.data(chunk.id) + d.sent, chunk.length - d.sent,
                     MSG_NOSIGNAL);
  sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, reinterpret_cast<uintptr_t>(&d) | 1);  // a send: low bit set
}

void end_direction(Direction& d);

void handle_multishot_recv(Direction& d, int result, uint32_t flags) {
  if (result > 0) {
    d.queue.push_back(
        {static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT), static_cast<size_t>(result)});
    if (d.queue.size() == 1) {
      d.sent = 0;
      send_front(d);
    }
  }
  if ((flags & IORING_CQE_F_MORE) != 0) return;
  if (result == -ENOBUFS) {
    arm_multishot(d);
    return;
  }
  if (result <= 0 && !d.ended) {
    d.ended = true;
    if (d.queue.empty()) end_direction(d);
  }
}

void handle_multishot_send(Direction& d, int result) {
  if (result <= 0) {
    for (const Chunk& c : d.queue) provided.give_back(c.id);
    d.queue.clear();
    if (!d.ended) {
      d.ended = true;
      ::shutdown(d.pair->client_fd, SHUT_RDWR);
      ::shutdown(d.pair->upstream_fd, SHUT_RDWR);
    }
    return;  // the receive's last completion ends the direction
  }
  d.sent += static_cast<size_t>(result);
  if (d.sent < d.queue.front().length) {
    send_front(d);
    return;
  }
  provided.give_back(d.queue.front().id);
  d.queue.pop_front();
  d.sent = 0;
  if (!d.queue.empty()) {
    send_front(d);
  } else if (d.ended) {
    end_direction(d);
  }
}

void end_direction(Direction& d) {
  Pair* pair = d.pair;
  // The other direction's receive ends too once both sockets are shut down.
  ::shutdown(pair->client_fd, SHUT_RDWR);
  ::shutdown(pair->upstream_fd, SHUT_RDWR);
  if (--pair->live > 0) return;
  uninstall(pair->request.from);
  uninstall(pair->request.to);
  ::close(pair->client_fd);
  ::close(pair->upstream_fd);
  delete pair;
}

void handle(Direction& d, int result) {
  if (result <= 0) {
    end_direction(d);
    return;
  }
  if (!d.sending) {
    d.length = static_cast<size_t>(result);
    d.sent = 0;
    submit_send(d);
    return;
  }
  d.sent += static_cast<size_t>(result);
  if (d.sent < d.length) {
    submit_send(d);
    return;
  }
  // A request was sent upstream: its response's receive waits first; likewise the next request
  // after a response went to the client.
  Direction& other = &d == &d.pair->request ? d.pair->response : d.pair->request;
  other.after_send = true;
  d.after_send = false;
  submit_recv(d);
}

void set_no_delay(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen_at;
  std::vector<sockaddr_in> backends;
  for (int i = 1; i + 1 < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--listen") listen_at = argv[++i];
    if (flag == "--backends") {
      std::string_view list = argv[++i];
      while (!list.empty()) {
        const size_t comma = list.find(',');
        backends.push_back(parse_address(list.substr(0, comma)));
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
      }
    }
  }
  if (listen_at.empty() || backends.empty()) {
    std::fprintf(stderr, "usage: relay_floor serve --listen H:P --backends H:P[,H:P...]\n");
    return 2;
  }
  const sockaddr_in listen_address = parse_address(listen_at);
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(listener, reinterpret_cast<const sockaddr*>(&listen_address), sizeof listen_address) !=
          0 ||
      ::listen(listener, SOMAXCONN) != 0) {
    std::fprintf(stderr, "relay_floor: cannot listen on %s: %s\n", listen_at.c_str(),
                 std::strerror(errno));
    return 1;
  }
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (const int r = io_uring_queue_init_params(kEntries, &ring, &params); r < 0) {
    std::fprintf(stderr, "relay_floor: io_uring_setup: %s\n", std::strerror(-r));
    return 1;
  }
  if (io_uring_register_files_sparse(&ring, kFileSlots) != 0) {
    std::fprintf(stderr, "relay_floor: no file table\n");
    return 1;
  }
  for (int i = static_cast<int>(kFileSlots) - 1; i >= 0; --i) free_slots.push_back(i);
  multishot = std::getenv("RELAY_MULTISHOT") != nullptr;
  if (multishot) {
    if (!provided.setup(ring, kProvided, kBufferSize)) {
      std::fprintf(stderr, "relay_floor: this kernel has no provided buffer rings\n");
      return 1;
    }
  }
  std::fprintf(stderr, "relay_floor listening on %s%s\n", listen_at.c_str(),
               multishot ? " (multishot receives)" : "");

  // Accepts come back with this user_data; everything else is a Direction.
  static char accept_tag;
  const auto arm_accept = [&] {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_multishot_accept(sqe, listener, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data(sqe, &accept_tag);
  };
  arm_accept();
  size_t next_backend = 0;
  for (;;) {
    io_uring_submit_and_wait(&ring, 1);
    io_uring_cqe* cqes[256];
    const unsigned n = io_uring_peek_batch_cqe(&ring, cqes, 256);
    for (unsigned i = 0; i < n; ++i) {
      void* data = io_uring_cqe_get_data(cqes[i]);
      const int result = cqes[i]->res;
      const uint32_t flags = cqes[i]->flags;
      const bool more = (flags & IORING_CQE_F_MORE) != 0;
      io_uring_cqe_seen(&ring, cqes[i]);
      if (data != &accept_tag) {
        if (!multishot) {
          handle(*static_cast<Direction*>(data), result);
        } else if ((reinterpret_cast<uintptr_t>(data) & 1) != 0) {
          handle_multishot_send(
              *reinterpret_cast<Direction*>(reinterpret_cast<uintptr_t>(data) - 1), result);
        } else {
          handle_multishot_recv(*static_cast<Direction*>(data), result, flags);
        }
        continue;
      }
      if (!more) arm_accept();
      if (result < 0) continue;
      const sockaddr_in& backend = backends[next_backend++ % backends.size()];
      const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (::connect(upstream, reinterpret_cast<const sockaddr*>(&backend), sizeof backend) != 0) {
        ::close(upstream);
        ::close(result);
        continue;
      }
      set_no_delay(result);
      set_no_delay(upstream);
      auto* pair = new Pair;
      pair->client_fd = result;
      pair->upstream_fd = upstream;
      const int client_slot = install(result);
      const int upstream_slot = install(upstream);
      pair->request.pair = pair->response.pair = pair;
      pair->request.from = pair->response.to = client_slot;
      pair->request.to = pair->response.from = upstream_slot;
      if (multishot) {
        arm_multishot(pair->request);
        arm_multishot(pair->response);
      } else {
        submit_recv(pair->request);
        submit_recv(pair->response);
      }
    }
  }
}
