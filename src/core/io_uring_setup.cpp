// The setup flags of the io_uring behind each Asio io_context (the admin listener's, the health
// checker's; proxy workers have rings of their own, src/loop/). Asio creates its ring with
// io_uring_queue_init(entries, ring, 0); defining that function here (the executable's definition
// wins over liburing's) lets the rings be created with flags Asio does not expose.
//
// Why: by default the kernel runs a ring's deferred work (the recv that a socket wake-up retries)
// at once, from the wake-up, while the sender's softirq on the other core still holds the socket
// lock; perf showed 9-13 % of the proxy's CPU spinning on that lock. With COOP_TASKRUN the work
// waits for the worker's next entry into the kernel: 45k -> 60k requests per CPU-second (wrk -c64,
// one worker, when the workers still ran on Asio). DEFER_TASKRUN would defer further, but needs a
// single submitting thread, and Asio wakes a loop from other threads by submitting to its ring.
#include <liburing.h>

#include <cerrno>

extern "C" int io_uring_queue_init(unsigned entries, struct io_uring* ring, unsigned flags) {
  io_uring_params params{};
  params.flags = flags | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  const int result = io_uring_queue_init_params(entries, ring, &params);
  if (result != -EINVAL || params.flags == flags) return result;
  // An older kernel without these flags: the ring works without them.
  io_uring_params plain{};
  plain.flags = flags;
  return io_uring_queue_init_params(entries, ring, &plain);
}
