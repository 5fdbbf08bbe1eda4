// Counts heap allocations, for test_allocations.py: LD_PRELOADed into a real `switchboard serve`,
// it counts the malloc-family calls of the threads whose name starts with SB_ALLOC_COUNT_THREADS
// (all threads when unset) into an 8-byte file named by SB_ALLOC_COUNT_FILE (shared, so the test
// reads it while the process runs), then hands each call to glibc's own allocator. Nothing else
// changes: the proxy runs on the real allocator.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

// glibc's allocator under its own names: calling these needs no dlsym, which may itself allocate.
extern void* __libc_malloc(size_t size);
extern void* __libc_calloc(size_t count, size_t size);
extern void* __libc_realloc(void* pointer, size_t size);
extern void* __libc_memalign(size_t alignment, size_t size);

static uint64_t* counter;
static char prefix[16];
static size_t prefix_length;

__attribute__((constructor)) static void map_counter(void) {
  const char* path = getenv("SB_ALLOC_COUNT_FILE");
  if (path == NULL) return;
  const char* threads = getenv("SB_ALLOC_COUNT_THREADS");
  if (threads != NULL) {
    strncpy(prefix, threads, sizeof prefix - 1);
    prefix_length = strlen(prefix);
  }
  const int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ftruncate(fd, sizeof(uint64_t)) != 0) abort();
  void* page = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (page == MAP_FAILED) abort();
  close(fd);
  counter = page;
}

static void count(void) {
  if (counter == NULL) return;
  if (prefix_length > 0) {
    // Asked on every call (a syscall), since a thread may name itself after it first allocates.
    char name[16] = {0};
    if (prctl(PR_GET_NAME, name) != 0 || strncmp(name, prefix, prefix_length) != 0) return;
  }
  __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

void* malloc(size_t size) {
  count();
  return __libc_malloc(size);
}

void* calloc(size_t count_, size_t size) {
  count();
  return __libc_calloc(count_, size);
}

void* realloc(void* pointer, size_t size) {
  count();
  return __libc_realloc(pointer, size);
}

void* memalign(size_t alignment, size_t size) {
  count();
  return __libc_memalign(alignment, size);
}

void* aligned_alloc(size_t alignment, size_t size) {
  count();
  return __libc_memalign(alignment, size);
}

int posix_memalign(void** out, size_t alignment, size_t size) {
  count();
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
  void* pointer = __libc_memalign(alignment, size);
  if (pointer == NULL) return ENOMEM;
  *out = pointer;
  return 0;
}
