// Counts what the request path must not do, for test_request_path.py: LD_PRELOADed into a real
// `switchboard serve`, it counts heap allocations (the malloc family) and lock acquisitions
// (pthread mutexes and rwlocks, which std::mutex and std::shared_mutex use) of the threads whose
// name starts with SB_COUNT_THREADS (all threads when unset), into two 8-byte counters in the file
// named by SB_COUNT_FILE (shared, so the test reads them while the process runs). Each call then
// goes to glibc's own function: the proxy runs on the real allocator and the real locks.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

// glibc's functions under their own names: calling these needs no dlsym, which may itself
// allocate or lock. The lock ones are versioned names only, so they are bound with .symver.
extern void* __libc_malloc(size_t size);
extern void* __libc_calloc(size_t count, size_t size);
extern void* __libc_realloc(void* pointer, size_t size);
extern void* __libc_memalign(size_t alignment, size_t size);
int glibc_mutex_lock(pthread_mutex_t* mutex);
int glibc_rwlock_rdlock(pthread_rwlock_t* lock);
int glibc_rwlock_wrlock(pthread_rwlock_t* lock);
__asm__(".symver glibc_mutex_lock, __pthread_mutex_lock@GLIBC_2.2.5");
__asm__(".symver glibc_rwlock_rdlock, __pthread_rwlock_rdlock@GLIBC_2.2.5");
__asm__(".symver glibc_rwlock_wrlock, __pthread_rwlock_wrlock@GLIBC_2.2.5");

enum { kAllocations, kLocks, kCounters };
static uint64_t* counters;
static char prefix[16];
static size_t prefix_length;

__attribute__((constructor)) static void map_counters(void) {
  const char* path = getenv("SB_COUNT_FILE");
  if (path == NULL) return;
  const char* threads = getenv("SB_COUNT_THREADS");
  if (threads != NULL) {
    strncpy(prefix, threads, sizeof prefix - 1);
    prefix_length = strlen(prefix);
  }
  const int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const size_t size = kCounters * sizeof(uint64_t);
  if (fd < 0 || ftruncate(fd, (off_t)size) != 0) abort();
  void* page = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (page == MAP_FAILED) abort();
  close(fd);
  counters = page;
}

static void count(int which) {
  if (counters == NULL) return;
  if (prefix_length > 0) {
    // Asked on every call (a syscall), since a thread may name itself after it first allocates.
    char name[16] = {0};
    if (prctl(PR_GET_NAME, name) != 0 || strncmp(name, prefix, prefix_length) != 0) return;
  }
  __atomic_fetch_add(&counters[which], 1, __ATOMIC_RELAXED);
}

void* malloc(size_t size) {
  count(kAllocations);
  return __libc_malloc(size);
}

void* calloc(size_t count_, size_t size) {
  count(kAllocations);
  return __libc_calloc(count_, size);
}

void* realloc(void* pointer, size_t size) {
  count(kAllocations);
  return __libc_realloc(pointer, size);
}

void* memalign(size_t alignment, size_t size) {
  count(kAllocations);
  return __libc_memalign(alignment, size);
}

void* aligned_alloc(size_t alignment, size_t size) {
  count(kAllocations);
  return __libc_memalign(alignment, size);
}

int posix_memalign(void** out, size_t alignment, size_t size) {
  count(kAllocations);
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
  void* pointer = __libc_memalign(alignment, size);
  if (pointer == NULL) return ENOMEM;
  *out = pointer;
  return 0;
}

int pthread_mutex_lock(pthread_mutex_t* mutex) {
  count(kLocks);
  return glibc_mutex_lock(mutex);
}

int pthread_rwlock_rdlock(pthread_rwlock_t* lock) {
  count(kLocks);
  return glibc_rwlock_rdlock(lock);
}

int pthread_rwlock_wrlock(pthread_rwlock_t* lock) {
  count(kLocks);
  return glibc_rwlock_wrlock(lock);
}
