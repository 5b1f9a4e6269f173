#pragma once
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>

#include "proxy/metrics.h"
#include "proxy/net.h"
#include "proxy/poll_window.h"

namespace schemagate::proxy {

/// Busy polling (io.busy_poll_us): after work, an I/O thread keeps polling for a short window
/// before it sleeps in epoll_wait, so a message arriving within the window needs no wake-up (an
/// IPI and a context switch: most of a proxy's added latency for one client). How long the
/// window is, and whether to poll at all, PollWindow decides from what polling finds
/// (io.busy_poll_adaptive): it shrinks to nothing when gaps are long or when polling competes
/// with another thread for the core (a sidecar beside its application), so an idle proxy, and
/// one whose polling would not pay, uses no CPU for it.
///
/// It runs *inside* io_context::run() as a handler that re-posts itself: while a handler is
/// queued, Asio's scheduler polls epoll with a zero timeout instead of blocking. Polling from
/// outside (a loop of io_context::poll()) would throw away Asio's per-thread recycled handler
/// memory at every call, i.e. heap allocations on every forwarded message.
///
/// Sessions report work with on_activity(); when the window passes without any, the poller
/// parks (the thread then sleeps in epoll_wait) and the next activity resumes it. Each empty
/// spin calls sched_yield, so a process sharing the core runs meanwhile, and the time that
/// yield took tells whether one wanted to.
class BusyPoller {
 public:
  BusyPoller(net::io_context& ioc, std::chrono::microseconds largest, bool adaptive)
      : ioc_(ioc), window_(largest, adaptive) {}

  /// Starts polling (no-op when the largest window is 0). `metrics` (may be null) counts what
  /// polling finds; it must outlive the poller's use.
  void start(Metrics* metrics) {
    metrics_ = metrics;
    parked_at_ = std::chrono::steady_clock::now();  // so the first resume reads no long sleep
    if (window_.largest().count() > 0) resume();
  }
  /// The current window in microseconds (for the metrics gauge; read from any thread).
  std::int64_t window_us() const { return window_us_.load(std::memory_order_relaxed); }
  /// The poller of the calling I/O thread (each worker has its own; null: nothing polls).
  static void bind_thread(BusyPoller* poller) { current_ = poller; }
  /// Called by sessions when a read completes, on their I/O thread. Cheap: a thread-local
  /// load, one relaxed increment and one load.
  static void note_activity() {
    if (current_ != nullptr) current_->on_activity();
  }
  void on_activity() {
    activity_.fetch_add(1, std::memory_order_relaxed);
    if (parked_.load(std::memory_order_relaxed)) resume();
  }

 private:
  void resume();
  void spin();
  void park(std::chrono::steady_clock::time_point now);
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

  static inline thread_local BusyPoller* current_ = nullptr;
  net::io_context& ioc_;
  HandlerMemory memory_;
  Metrics* metrics_ = nullptr;
  std::atomic<std::uint64_t> activity_{0};
  std::atomic<bool> parked_{true};
  std::atomic<std::int64_t> window_us_{0};
  // Touched by one thread at a time: the spin handler (one in flight) or, while parked, the
  // resume() that won the exchange on parked_ (which orders it after the park).
  PollWindow window_;
  std::uint64_t seen_ = 0;
  bool idle_spins_ = false;  // spins since the last work found nothing
  std::chrono::steady_clock::time_point last_work_{};
  std::chrono::steady_clock::time_point parked_at_{};
};

}  // namespace schemagate::proxy
