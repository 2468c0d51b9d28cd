// lab_uring: claim R7's first half, on this kernel: io_uring submits
// thousands of reads in one system call. N reads of 4 KiB from a temporary
// file are queued and submitted with one io_uring_submit_and_wait (one
// io_uring_enter system call, counted here by construction and checked by
// the number of completions), against N pread calls (N system calls).
// Whether completions resume duet's suspended tasks is the I/O driver's
// experiment.
//
//   exp_lab_uring [--n N]
#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "lab.hpp"

int main(int argc, char** argv) {
  lab::Args args(argc, argv);
  unsigned n = static_cast<unsigned>(args.num("n", 4096));
  char path[] = "/tmp/lab_uring_XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return 3;
  unlink(path);
  std::vector<char> block(4096, 'x');
  for (int i = 0; i < 256; ++i)
    if (write(fd, block.data(), block.size()) != 4096) return 3;
  std::vector<char> bufs(static_cast<size_t>(n) * 4096);

  io_uring ring;
  int rc = io_uring_queue_init(n, &ring, 0);
  if (rc < 0) {
    std::fprintf(stderr, "io_uring_queue_init: %s\n", std::strerror(-rc));
    lab::emit("uring_batch", "io_uring", "available", 0, "bool", n,
              std::string("io_uring_queue_init failed: ") + std::strerror(-rc));
    return 0;
  }
  lab::emit("uring_batch", "io_uring", "available", 1, "bool", n, "io_uring_queue_init succeeded");
  double best_ring = 1e300, best_pread = 1e300;
  unsigned completed = 0;
  for (int rep = 0; rep < 5; ++rep) {
    for (unsigned i = 0; i < n; ++i) {
      io_uring_sqe* sqe = io_uring_get_sqe(&ring);
      io_uring_prep_read(sqe, fd, bufs.data() + static_cast<size_t>(i) * 4096, 4096,
                         (i % 256) * 4096ULL);
    }
    auto t0 = lab::Clock::now();
    int submitted = io_uring_submit_and_wait(&ring, n);  // one io_uring_enter
    completed = 0;
    io_uring_cqe* cqe;
    unsigned head;
    io_uring_for_each_cqe(&ring, head, cqe) {
      if (cqe->res == 4096) ++completed;
    }
    io_uring_cq_advance(&ring, n);
    best_ring = std::min(best_ring, lab::ns_since(t0));
    if (submitted != static_cast<int>(n))
      std::fprintf(stderr, "submitted %d of %u\n", submitted, n);
    t0 = lab::Clock::now();
    for (unsigned i = 0; i < n; ++i)
      if (pread(fd, bufs.data() + static_cast<size_t>(i) * 4096, 4096, (i % 256) * 4096LL) != 4096)
        return 3;
    best_pread = std::min(best_pread, lab::ns_since(t0));
  }
  lab::emit("uring_batch", "io_uring", "reads_per_syscall", double(completed), "reads/syscall", n,
            "N 4 KiB reads (page cache) submitted and reaped with one io_uring_submit_and_wait; "
            "completions counted");
  lab::emit("uring_batch", "io_uring", "time_per_read", best_ring / n, "ns", n,
            "io_uring batch, best of 5");
  lab::emit("uring_batch", "pread", "time_per_read", best_pread / n, "ns", n,
            "one pread system call per read, best of 5");
  io_uring_queue_exit(&ring);
  return 0;
}
