// token.cpp: the cancellation token's shared state: its registration list,
// the cancel cascade, the deadline timer and the std::stop_token bridges.
#include "duet/cancel/token.hpp"

#include <algorithm>
#include <cstdint>

namespace duet::detail {

namespace {

/// What a deadline timer's waker points at: a weak reference to the token.
/// Refcounted by the Waker protocol (the wheel may hold a clone after the
/// token is gone), so it is deleted by its last waker.
struct DeadlineTrigger {
  std::atomic<std::uint32_t> refs{1};
  std::weak_ptr<CancelState> target;
};

void trigger_clone(void* d) {
  // Relaxed: a new reference is made from one the caller holds.
  static_cast<DeadlineTrigger*>(d)->refs.fetch_add(1, std::memory_order_relaxed);
}
void trigger_drop(void* d) {
  auto* t = static_cast<DeadlineTrigger*>(d);
  // AcqRel: the last dropper must see every other holder's use before it
  // deletes (release from each dropper, acquire by the last).
  if (t->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    std::unique_ptr<DeadlineTrigger> own(t);
  }
}
void trigger_wake_by_ref(void* d) {
  if (auto s = static_cast<DeadlineTrigger*>(d)->target.lock()) s->cancel();
}
void trigger_wake(void* d) {
  trigger_wake_by_ref(d);
  trigger_drop(d);
}
const WakerVTable trigger_vtable{&trigger_clone, &trigger_wake, &trigger_wake_by_ref,
                                 &trigger_drop};

/// Cancels the token a std::stop_callback was made for.
struct StopForward {
  std::weak_ptr<CancelState> target;
  void operator()() const noexcept {
    if (auto s = target.lock()) s->cancel();
  }
};

}  // namespace

struct CancelExtras {
  ~CancelExtras() {
    // Acquire: as Sleep's destructor (a firing wheel released the entry).
    if (timer.state.load(std::memory_order_acquire) == TimerEntry::registered) {
      timer_cancel(timer);
    }
  }
  TimerEntry timer;
  std::optional<std::stop_callback<StopForward>> from;  // std -> duet
  std::optional<std::stop_source> to;                   // duet -> std, guarded by mu_
  CancelRegistration to_reg;
};

CancelState::CancelState() noexcept = default;

CancelState::~CancelState() {
  extras_.reset();  // the stop_callback and the timer first: they name us
  if (parent_) parent_->detach(in_parent_);
}

bool CancelState::cancel() noexcept {
  std::unique_lock lk(mu_);
  // Relaxed: the flag is only written under mu_.
  if (cancelled_.load(std::memory_order_relaxed)) return false;
  // Release: pairs with is_cancelled()'s acquire.
  cancelled_.store(true, std::memory_order_release);
  canceller_ = std::this_thread::get_id();
  while (CancelRegistration* r = head_) {
    head_ = r->next;
    if (head_ != nullptr) head_->prev = nullptr;
    if (head_ == nullptr) tail_ = nullptr;
    r->linked = false;
    bool destroyed = false;
    r->destroyed = &destroyed;
    running_ = r;
    lk.unlock();
    r->run(r);
    lk.lock();
    if (!destroyed) r->destroyed = nullptr;
    running_ = nullptr;
  }
  return true;
}

bool CancelState::attach(CancelRegistration& r) noexcept {
  std::lock_guard g(mu_);
  // Relaxed: written under mu_.
  if (cancelled_.load(std::memory_order_relaxed)) return false;
  r.prev = tail_;
  r.next = nullptr;
  if (tail_ != nullptr) {
    tail_->next = &r;
  } else {
    head_ = &r;
  }
  tail_ = &r;
  r.linked = true;
  return true;
}

void CancelState::detach(CancelRegistration& r) noexcept {
  std::unique_lock lk(mu_);
  if (r.linked) {
    (r.prev != nullptr ? r.prev->next : head_) = r.next;
    (r.next != nullptr ? r.next->prev : tail_) = r.prev;
    r.linked = false;
    return;
  }
  if (running_ != &r) return;  // never linked, or already ran
  if (canceller_ == std::this_thread::get_id()) {
    *r.destroyed = true;  // destroyed from inside its own run
    return;
  }
  // Another thread runs it: wait until it returns (cancel() clears
  // running_ under mu_ before it touches the next one).
  while (running_ == &r) {
    lk.unlock();
    std::this_thread::yield();
    lk.lock();
  }
}

bool CancelState::poll_wait(CancelRegistration& r, Waker& slot, Context& cx) noexcept {
  std::lock_guard g(mu_);
  // Relaxed: written under mu_.
  if (cancelled_.load(std::memory_order_relaxed)) return true;
  if (!slot.will_wake(cx.waker())) slot = cx.waker();
  if (!r.linked) {
    r.prev = tail_;
    r.next = nullptr;
    (tail_ != nullptr ? tail_->next : head_) = &r;
    tail_ = &r;
    r.linked = true;
  }
  return false;
}

std::shared_ptr<CancelState> CancelState::make_child() {
  auto c = std::make_shared<CancelState>();
  c->parent_ = shared_from_this();
  c->deadline_ = deadline_;
  c->in_parent_.run = &cancel_child;
  c->in_parent_.owner = c.get();
  if (!attach(c->in_parent_)) c->cancel();
  return c;
}

void CancelState::cancel_child(CancelRegistration* r) noexcept {
  auto* c = static_cast<CancelState*>(r->owner);
  // A child whose last handle is being dropped is not revived; one that
  // lives is kept alive while its own registrations run.
  if (auto keep = c->weak_from_this().lock()) keep->cancel();
}

void CancelState::set_deadline(Instant t) {
  if (t == Instant::max()) return;  // never: no deadline, nothing armed
  deadline_ = deadline_ ? std::min(*deadline_, t) : t;
  if (Clock::now() >= t) {
    cancel();
    return;
  }
  extras_ = std::make_unique<CancelExtras>();
  extras_->timer.tick = tick_ceil(t);
  auto trig = std::make_unique<DeadlineTrigger>();
  trig->target = weak_from_this();
  // The waker adopts the trigger's first reference.
  Waker w = Waker::adopt(trig.release(), &trigger_vtable);
  if (!timer_register_process(extras_->timer, w)) cancel();
}

void CancelState::bridge_from(std::stop_token st) {
  extras_ = std::make_unique<CancelExtras>();
  // Runs StopForward at once when stop was already requested.
  extras_->from.emplace(std::move(st), StopForward{weak_from_this()});
}

std::stop_token CancelState::bridge_to() {
  std::unique_lock lk(mu_);
  if (!extras_) extras_ = std::make_unique<CancelExtras>();
  CancelExtras& x = *extras_;
  if (!x.to) {
    x.to.emplace();
    x.to_reg.run = [](CancelRegistration* r) noexcept {
      static_cast<CancelExtras*>(r->owner)->to->request_stop();
    };
    x.to_reg.owner = &x;
    // Relaxed: written under mu_.
    if (!cancelled_.load(std::memory_order_relaxed)) {
      x.to_reg.prev = tail_;
      x.to_reg.next = nullptr;
      (tail_ != nullptr ? tail_->next : head_) = &x.to_reg;
      tail_ = &x.to_reg;
      x.to_reg.linked = true;
    }
  }
  std::stop_source src = *x.to;
  // Relaxed: written under mu_.
  bool stop_now = cancelled_.load(std::memory_order_relaxed);
  lk.unlock();
  if (stop_now) src.request_stop();  // std callbacks run without our lock
  return src.get_token();
}

}  // namespace duet::detail

namespace duet {

void CancelledFuture::wake(detail::CancelRegistration* r) noexcept {
  // By reference: a poll may be reading waker_ now (CancelledFuture::poll);
  // the future's destructor drops it.
  static_cast<CancelledFuture*>(r->owner)->waker_.wake_by_ref();
}

CancellationToken::CancellationToken() : s_(std::make_shared<detail::CancelState>()) {}

CancellationToken CancellationToken::child() const {
  return CancellationToken(s_->make_child());
}

CancellationToken CancellationToken::with_deadline(const CancellationToken& parent, Instant when) {
  auto c = parent.s_->make_child();
  c->set_deadline(when);
  return CancellationToken(std::move(c));
}

CancellationToken CancellationToken::from_stop_token(std::stop_token st) {
  auto s = std::make_shared<detail::CancelState>();
  s->bridge_from(std::move(st));
  return CancellationToken(std::move(s));
}

}  // namespace duet
