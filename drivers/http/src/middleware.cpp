// middleware.cpp: Middleware, Next and the layering of routes: one
// mechanism for every engine, since a layer is only a Handler that wraps
// another (the connection machine runs whatever Handler a route holds).
//
// The rule (server.hpp, Middleware): a chain stays a coroutine handler
// only while its layers and its handler are all coroutines; anything plain
// in it makes the whole chain a plain handler, run on a fiber. There a
// coroutine layer is polled by the fiber (drive), and a plain rest it
// awaits is not called inside that poll (a wait inside a poll would park
// the fiber in the middle of the coroutine's resumption): the layer's
// await asks for it through an InlineCall and stays pending, the fiber
// runs it between two polls, and the next poll hands the answer back. No
// layer spawns anything.
#include <exception>
#include <optional>
#include <utility>

#include "duet/http/server.hpp"
#include "duet/stackful.hpp"
#include "duet/wait.hpp"

namespace duet::http {

namespace detail {

/// A plain rest that a coroutine layer awaits: asked for (handler set) by
/// the layer's poll, run by the chain's fiber (drive), answered in `res`
/// or `error`. Lives on the fiber's stack for one request.
struct InlineCall {
  const FiberHandler* handler = nullptr;  // asked for, not yet run
  Request* req = nullptr;
  std::optional<Response> res;
  std::exception_ptr error;
};

}  // namespace detail

namespace {

using detail::InlineCall;

/// The await of a plain rest inside a coroutine layer (a poll future):
/// asks for the call, then hands its answer (or its exception) back.
struct AskedCall {
  InlineCall& call;
  const FiberHandler& handler;
  Request& req;

  Poll<Response> poll(Context&) {
    if (call.res) {
      Response r = std::move(*call.res);
      call.res.reset();
      return r;
    }
    if (call.error) std::rethrow_exception(std::exchange(call.error, nullptr));
    call.handler = &handler;
    call.req = &req;
    return pending;  // drive() runs it and polls again: no waker needed
  }
};

Task<Response> ask(InlineCall& call, const FiberHandler& h, Request& req) {
  co_return co_await AskedCall{call, h, req};
}

/// One wait of drive(): ready with true once the layer's Task is done (its
/// answer in `out`), with false when it asked for a plain rest.
struct UntilAsked {
  Task<Response>& task;
  InlineCall& call;
  std::optional<Response>& out;

  Poll<bool> poll(Context& cx) {
    auto p = task.poll(cx);
    if (p.is_ready()) {
      out.emplace(std::move(p).value());
      return true;
    }
    if (call.handler != nullptr) return false;
    return pending;
  }
};

/// Runs a coroutine layer's Task on the calling fiber, with the plain
/// rests it asks for run between its polls.
Response drive(Task<Response> task, InlineCall& call) {
  std::optional<Response> out;
  for (;;) {
    UntilAsked step{task, call, out};
    if (duet::wait(step)) return std::move(*out);
    const FiberHandler* h = std::exchange(call.handler, nullptr);
    try {
      call.res.emplace((*h)(*call.req));
    } catch (const duet::detail::FiberUnwind&) {
      throw;  // the runtime unwinds this fiber: the layer goes with it
    } catch (...) {
      call.error = std::current_exception();
    }
  }
}

}  // namespace

Task<Response> Next::run(Request& req) const {
  if (h_->is_coroutine()) return h_->coroutine()(req);
  // A plain rest: Middleware::wrap made the chain plain, with a call slot.
  return ask(*call_, h_->fiber(), req);
}

Response Next::run_now(Request& req) const {
  if (h_->is_coroutine()) return duet::wait(h_->coroutine()(req));
  return h_->fiber()(req);
}

Handler Middleware::wrap(Handler inner) const {
  const RouteLimits limits = inner.limits_;
  std::optional<Handler> out;
  if (coro_ && inner.is_coroutine()) {
    out.emplace([mw = coro_, in = std::move(inner)](Request& req) -> Task<Response> {
      return mw(req, Next(in, nullptr));
    });
  } else if (coro_) {
    out.emplace([mw = coro_, in = std::move(inner)](Request& req) -> Response {
      InlineCall call;
      return drive(mw(req, Next(in, &call)), call);
    });
  } else {
    out.emplace([mw = plain_, in = std::move(inner)](Request& req) -> Response {
      return mw(req, Next(in, nullptr));
    });
  }
  out->limits_ = limits;
  return std::move(*out);
}

Handler Handler::layer(const Middleware& m) && {
  return m.wrap(std::move(*this));
}

Handler Handler::layer(const Middleware& m) const& {
  return m.wrap(*this);
}

}  // namespace duet::http
