#include "proxy/busy_poller.h"

#include <sched.h>

namespace schemagate::proxy {

void BusyPoller::resume() {
  if (!parked_.exchange(false, std::memory_order_acq_rel)) return;  // already polling
  const auto now = std::chrono::steady_clock::now();
  window_.on_wakeup(now - parked_at_, now);
  window_us_.store(std::chrono::duration_cast<std::chrono::microseconds>(window_.window()).count(),
                   std::memory_order_relaxed);
  if (window_.window().count() == 0) {  // not worth polling now: stay parked, no handler posted
    parked_at_ = now;
    parked_.store(true, std::memory_order_release);
    return;
  }
  last_work_ = now;
  idle_spins_ = false;
  post_spin();
}

void BusyPoller::spin() {
  const auto now = std::chrono::steady_clock::now();
  const auto activity = activity_.load(std::memory_order_relaxed);
  if (activity != seen_) {  // work since the last spin: poll again at once, no yield
    seen_ = activity;
    last_work_ = now;
    // Work found after empty spins is a wake-up polling saved.
    if (idle_spins_ && metrics_ != nullptr) metrics_->add(Counter::busy_poll_caught);
    idle_spins_ = false;
    post_spin();
    return;
  }
  if (now - last_work_ < window_.window()) {
    idle_spins_ = true;
    sched_yield();
    const auto after = std::chrono::steady_clock::now();
    if (window_.on_yield(after - now, after)) {  // another thread wanted this core
      if (metrics_ != nullptr) metrics_->add(Counter::busy_poll_contended);
      park(after);
      return;
    }
    post_spin();
    return;
  }
  park(now);
}

// Activity that slips in between the checks above and the store only costs one missed poll
// window: the thread sleeps in epoll_wait and the next read resumes polling.
void BusyPoller::park(std::chrono::steady_clock::time_point now) {
  if (metrics_ != nullptr) metrics_->add(Counter::busy_poll_sleeps);
  window_us_.store(std::chrono::duration_cast<std::chrono::microseconds>(window_.window()).count(),
                   std::memory_order_relaxed);
  parked_at_ = now;
  parked_.store(true, std::memory_order_release);
}

void BusyPoller::post_spin() { net::post(ioc_, SpinHandler{this}); }

}  // namespace schemagate::proxy
