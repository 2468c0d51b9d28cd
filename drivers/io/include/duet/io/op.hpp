// duet/io/op.hpp: the one poll function behind every socket and file
// operation, on either backend (internal; the public types are in
// duet/net/ and duet/fs/).
//
// An operation is described by an OpRequest and polled with poll_op():
//   - io_uring: the first poll prepares an SQE on the calling worker's ring
//     (submitted with the rest of the tick's SQEs in one io_uring_enter) and
//     parks the request's state in an IoOp that the driver owns while the
//     kernel may still touch it; a later poll (on any worker) collects the
//     result.
//   - epoll: sockets are non-blocking; the syscall is tried at once and on
//     EAGAIN the waker waits on the fd's registration in the worker's epoll
//     set. File operations run on the driver's small blocking pool, through
//     the same IoOp as io_uring.
//   - no driver (a plain thread, or the `none` driver): the syscall blocks
//     the calling thread (poll(2) then the call).
//
// Buffer ownership (docs/io.md): the kernel never reads or writes a user
// buffer. A read lands in the IoOp's own buffer and is copied out by the
// poll that sees it complete; a write's data is copied into the IoOp when
// it is submitted. Dropping a future whose operation is in flight hands the
// IoOp to its driver, which cancels it in the kernel and frees it when the
// last CQE arrives: the task may move on at once and nothing it owned is
// written afterwards.
#pragma once

#include "duet/export.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "duet/io/fd.hpp"
#include "duet/net/address.hpp"
#include "duet/poll.hpp"
#include "duet/result.hpp"
#include "duet/waker.hpp"

namespace duet::io::detail {

struct IoOp;          // driver-owned state of one in-flight operation
struct Registration;  // an fd's entry in an epoll set
struct RecvQueue;     // a socket's multishot receive on an io_uring worker
struct AcceptQueue;   // a listener's multishot accept on an io_uring worker

/// Gives up the future's interest in `op` (cancelling it if in flight).
DUET_API void op_abandon(IoOp* op) noexcept;
/// Removes `r` from its epoll set; freed by the driver once it is safe.
DUET_API void registration_release(Registration* r) noexcept;
/// Cancels `q`'s multishot recv and drops its unread buffers; freed by the
/// driver once no CQE can name it.
DUET_API void recv_queue_release(RecvQueue* q) noexcept;
/// Cancels `q`'s multishot accept and closes the descriptors it accepted
/// that nobody took; freed by the driver once no CQE can name it.
DUET_API void accept_queue_release(AcceptQueue* q) noexcept;

class OpSlot;

/// Takes the slot's waker back from the waiter list it waits in (an epoll
/// registration, a multishot accept queue) and lets go of that list.
DUET_API void op_withdraw(OpSlot& slot) noexcept;
/// The pending future moved: its entry in the waiter list follows it.
DUET_API void op_rekey(OpSlot& from, OpSlot& to) noexcept;

/// The future's handle on its operation: the in-flight IoOp, or the waiter
/// list it waits in without one (empty when neither).
///
/// A future that waits in a list (epoll's Registration of its fd,
/// io_uring's AcceptQueue of its listener) holds a count on that list, so
/// the list outlives the slot even when its socket closes first, and its
/// entry there is its own: dropping the future takes its waker back at
/// once, not at the fd's next event (a waker holds its task's memory).
class OpSlot {
 public:
  /// What `wait_in` points at.
  enum class Wait : std::uint8_t { none, readable, writable, accept };
  OpSlot() noexcept = default;
  OpSlot(OpSlot&& o) noexcept : op(std::exchange(o.op, nullptr)), cut(o.cut) { take_wait(o); }
  OpSlot& operator=(OpSlot&& o) noexcept {
    if (this != &o) {
      reset();
      op = std::exchange(o.op, nullptr);
      cut = o.cut;
      take_wait(o);
    }
    return *this;
  }
  ~OpSlot() { reset(); }
  void reset() noexcept {
    if (op != nullptr) op_abandon(std::exchange(op, nullptr));
    if (wait != Wait::none) op_withdraw(*this);
  }
  IoOp* op = nullptr;
  void* wait_in = nullptr;     // the Registration or AcceptQueue (by `wait`)
  std::uint32_t wait_seq = 0;  // epoll: the side's epoch when the waker went in
  Wait wait = Wait::none;
  bool wait_inline = false;  // epoll: the waker is in the registration's own slot
  bool cut = false;          // poll_cut_op asked the backend to stop `op`

 private:
  void take_wait(OpSlot& o) noexcept {
    if (o.wait == Wait::none) return;
    op_rekey(o, *this);
  }
};

/// A descriptor and its backend state: what every socket and file holds.
class DUET_API Source {
 public:
  Source() noexcept = default;
  explicit Source(Fd f) noexcept : fd(std::move(f)) {}
  // Relaxed in the moves: a Source is moved only while no operation uses it.
  Source(Source&& o) noexcept
      : fd(std::move(o.fd)),
        reg(o.reg.exchange(nullptr, std::memory_order_relaxed)),
        rq(std::exchange(o.rq, nullptr)),
        aq(o.aq.exchange(nullptr, std::memory_order_relaxed)) {}
  Source& operator=(Source&& o) noexcept {
    if (this != &o) {
      (void)close();
      fd = std::move(o.fd);
      reg.store(o.reg.exchange(nullptr, std::memory_order_relaxed), std::memory_order_relaxed);
      rq = std::exchange(o.rq, nullptr);
      aq.store(o.aq.exchange(nullptr, std::memory_order_relaxed), std::memory_order_relaxed);
    }
    return *this;
  }
  ~Source() { (void)close(); }
  /// Deregisters (epoll) and closes the descriptor.
  duet::Result<void> close() noexcept;

  Fd fd;
  // epoll: the descriptor's registration, made by the first operation that
  // waits. Atomic: a reader and a writer, or two accepts, on different
  // workers may both be first; one registration wins (compare-exchange) and
  // the other is removed (before, the loser leaked, found by ASan).
  std::atomic<Registration*> reg{nullptr};
  RecvQueue* rq = nullptr;  // io_uring multishot recv, armed by the first read
  // io_uring: the listener's multishot accept, made by the first accept.
  // Atomic for the same reason as `reg`: two accepts on different workers
  // may both be first; one queue wins (compare-exchange).
  std::atomic<AcceptQueue*> aq{nullptr};
};

enum class OpKind : std::uint8_t {
  recv,           // fd, rbuf/len, flags
  send,           // fd, wbuf/len, flags (MSG_NOSIGNAL always added)
  accept,         // fd -> new fd in result; the peer in *addr (none when null)
  connect,        // fd (created by the future), *addr, timeout
  recvfrom,       // fd, rbuf/len -> the sender in *addr
  sendto,         // fd, wbuf/len, *addr
  read_at,        // fd, rbuf/len, off
  write_at,       // fd, wbuf/len, off
  fsync,          // fd, flags (1: fdatasync)
  openat,         // path, flags, mode -> new fd in result
  readv,          // fd, riov/iovcnt (len: their total)
  writev,         // fd, wiov/iovcnt (len: their total; MSG_NOSIGNAL always added)
  send_fds,       // fd, wbuf/len, fds/nfds passed as SCM_RIGHTS (MSG_NOSIGNAL)
  recv_fds,       // fd, rbuf/len -> rfds (nfds: room, then how many came), ctrunc
  wait_writable,  // fd: ready (0 or a poll mask) once the socket takes bytes
  poll,           // fd, flags = POLLIN or POLLOUT -> the revents mask (AsyncFd)
};

/// The most descriptors one send_fds or recv_fds carries.
inline constexpr std::size_t kMaxFdsPerMsg = 16;

/// The most buffers one vectored operation uses; later ones wait for the
/// next call (a short read or write, as readv(2) and writev(2) allow).
inline constexpr std::size_t kMaxIov = 64;

/// One operation's arguments. The buffers are the user's; they are only
/// touched inside poll_op (copies in and out), never by the kernel. So is
/// the socket address: the few futures that have one hold it and point
/// `addr` at it before each poll (a future may move between polls).
///
/// Every pending read and write holds one (an idle connection's memory),
/// so the arguments that no kind uses together share a word: each union
/// below holds the member its kind names in the OpKind table, and code
/// reads only the members of the request's kind. The defaults are the
/// members read when a kind leaves them unset (accept's `addr`).
struct OpRequest {
  OpRequest() noexcept = default;
  explicit OpRequest(OpKind k) noexcept : kind(k) {}
  OpKind kind = OpKind::recv;
  bool started = false;  // epoll connect: in progress
  bool ctrunc = false;   // recv_fds: the kernel dropped some (MSG_CTRUNC)
  int flags = 0;
  Source* src = nullptr;
  std::size_t len = 0;
  union {                                    // the data, by kind:
    std::byte* rbuf = nullptr;               // recv, recvfrom, read_at, recv_fds
    const std::byte* wbuf;                   // send, sendto, write_at, send_fds
    const std::span<std::byte>* riov;        // readv: the buffers
    const std::span<const std::byte>* wiov;  // writev: the data
    const char* path;                        // openat
  };
  union {
    net::SocketAddr* addr = nullptr;  // accept, connect, recvfrom, sendto (poll_op only)
    std::uint64_t off;                // read_at, write_at
    std::size_t iovcnt;               // readv, writev: riov/wiov entries used
    const int* fds;                   // send_fds: to pass
    int* rfds;                        // recv_fds: received into
    unsigned mode;                    // openat
  };
  union {
    std::chrono::nanoseconds timeout{0};  // connect: its timeout (0 = none; ConnectFuture)
    std::size_t nfds;                     // send_fds: how many; recv_fds: room, then how many came
  };
};
static_assert(sizeof(OpRequest) == 48, "an OpRequest sits in every pending read and write");

/// A stream's read into an empty buffer: a vectored read of no buffer,
/// which poll_op answers with 0 at once, starting nothing. The rule is
/// read(2)'s (a count of 0 reads nothing and returns 0) and std::io::Read's,
/// where recv(2) of 0 bytes on a Linux TCP socket would wait for data and
/// then return 0: TcpStream's and UnixStream's reads take it for an empty
/// buffer, on every driver and on a plain thread.
[[nodiscard]] inline OpRequest read_nothing(Source* s) noexcept {
  OpRequest q{OpKind::readv};
  q.src = s;
  q.riov = nullptr;
  q.iovcnt = 0;
  q.len = 0;
  return q;
}

/// Polls the operation. Ready with the syscall's result: >= 0 (a count or a
/// new fd), or -errno.
DUET_API Poll<long> poll_op(OpRequest& req, OpSlot& slot, Context& cx);

/// Polls the operation after a cut (duet::Cuttable): the first call asks
/// the backend to stop what is in flight (io_uring: an async cancel); ready
/// with the result the operation ended with, which is its own when it
/// finished before the cut took effect (a send's count), else -ECANCELED.
/// An operation that was only waiting in a list (epoll readiness, a
/// multishot queue) had moved nothing: -ECANCELED at once. A file op on
/// the file pool cannot be stopped: it is waited for.
DUET_API Poll<long> poll_cut_op(OpRequest& req, OpSlot& slot, Context& cx);

}  // namespace duet::io::detail
