// The signals `switchboard serve` acts on: SIGINT and SIGTERM (stop) and SIGHUP (reload). They
// are blocked in every thread and taken by the main thread with sigtimedwait, instead of a
// handler. So none interrupts a thread at an arbitrary point, and one that comes while the
// process drains or tears down stays pending: it can neither kill the process half way through
// its teardown nor change its exit code (a handler is gone by then, and the default action of
// SIGTERM is to terminate).
#pragma once

#include <chrono>
#include <optional>

namespace sb {

// Blocks the three signals in the calling thread and so in every thread it starts afterwards,
// and gives back their default action where the process was started with them ignored: call it
// before the process starts its first thread.
void block_process_signals();

// Waits for one of the three signals, at most `timeout` (nullopt: for as long as it takes).
// Returns the signal, or 0 when the time ran out first.
int wait_for_process_signal(std::optional<std::chrono::milliseconds> timeout = std::nullopt);

}  // namespace sb
