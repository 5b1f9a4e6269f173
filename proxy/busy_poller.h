#pragma once
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>

#include "proxy/net.h"

namespace schemagate::proxy {

/// Busy polling (io.busy_poll_us): after work, an I/O thread keeps polling for a short window
/// before it sleeps in epoll_wait, so a message arriving within the window needs no wake-up (an
/// IPI and a context switch: most of a proxy's added latency for one client).
///
/// It runs *inside* io_context::run() as a handler that re-posts itself: while a handler is
/// queued, Asio's scheduler polls epoll with a zero timeout instead of blocking. Polling from
/// outside (a loop of io_context::poll()) would throw away Asio's per-thread recycled handler
/// memory at every call, i.e. heap allocations on every forwarded message.
///
/// Sessions report work with on_activity(); when the window passes without any, the poller
/// parks (the thread then sleeps in epoll_wait) and the next activity resumes it. Each spin
/// calls sched_yield, so a process sharing the core (often the database itself) runs meanwhile.
class BusyPoller {
 public:
  BusyPoller(net::io_context& ioc, std::chrono::microseconds window) : ioc_(ioc), window_(window) {}

  /// Starts polling (no-op when the window is 0).
  void start() {
    if (window_.count() > 0) resume();
  }
  /// Called by sessions when a read completes. Cheap: one relaxed increment and one load.
  void on_activity() {
    activity_.fetch_add(1, std::memory_order_relaxed);
    if (parked_.load(std::memory_order_relaxed)) resume();
  }

 private:
  void resume() {
    if (!parked_.exchange(false, std::memory_order_acq_rel)) return;  // already polling
    last_work_ = std::chrono::steady_clock::now();
    post_spin();
  }
  void spin();
  void post_spin();

  /// Memory for the one spin handler in flight, so that re-posting it never allocates (Asio's
  /// per-thread cache has one slot per kind, which the forwarding path's own operations use).
  struct HandlerMemory {
    alignas(std::max_align_t) unsigned char bytes[128];
    bool in_use = false;
  };
  template <class T>
  struct HandlerAllocator {
    using value_type = T;
    HandlerMemory* memory;
    explicit HandlerAllocator(HandlerMemory* m) noexcept : memory(m) {}
    template <class U>
    HandlerAllocator(const HandlerAllocator<U>& other) noexcept : memory(other.memory) {}
    T* allocate(std::size_t n) {
      if (!memory->in_use && sizeof(T) * n <= sizeof memory->bytes) {
        memory->in_use = true;
        return reinterpret_cast<T*>(memory->bytes);
      }
      return static_cast<T*>(::operator new(sizeof(T) * n));
    }
    void deallocate(T* p, std::size_t) noexcept {
      if (reinterpret_cast<unsigned char*>(p) == memory->bytes) memory->in_use = false;
      else ::operator delete(p);
    }
    template <class U>
    bool operator==(const HandlerAllocator<U>& o) const noexcept { return memory == o.memory; }
    template <class U>
    bool operator!=(const HandlerAllocator<U>& o) const noexcept { return memory != o.memory; }
  };
  struct SpinHandler {
    BusyPoller* poller;
    using allocator_type = HandlerAllocator<SpinHandler>;
    allocator_type get_allocator() const noexcept { return allocator_type(&poller->memory_); }
    void operator()() const { poller->spin(); }
  };

  net::io_context& ioc_;
  HandlerMemory memory_;
  const std::chrono::microseconds window_;
  std::atomic<std::uint64_t> activity_{0};
  std::atomic<bool> parked_{true};
  // Touched only by the spin handler (one at a time).
  std::uint64_t seen_ = 0;
  std::chrono::steady_clock::time_point last_work_{};
};

}  // namespace schemagate::proxy
