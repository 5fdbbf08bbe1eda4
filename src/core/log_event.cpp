// The thread-local that carries a log line's structured fields to the formatter and sinks.
#include "core/log_event.hpp"

namespace sb {

namespace {
thread_local const LogFields* t_fields = nullptr;
}  // namespace

const LogFields* current_log_fields() {
  return t_fields;
}

namespace detail {

ScopedLogFields::ScopedLogFields(const LogFields& fields) : previous_(t_fields) {
  t_fields = &fields;
}

ScopedLogFields::~ScopedLogFields() {
  t_fields = previous_;
}

}  // namespace detail

}  // namespace sb
