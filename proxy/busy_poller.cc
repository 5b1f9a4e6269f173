#include "proxy/busy_poller.h"

#include <sched.h>

namespace schemagate::proxy {

void BusyPoller::spin() {
  const auto now = std::chrono::steady_clock::now();
  const auto activity = activity_.load(std::memory_order_relaxed);
  if (activity != seen_) {  // work since the last spin: poll again at once, no yield
    seen_ = activity;
    last_work_ = now;
    post_spin();
    return;
  }
  if (now - last_work_ < window_) {
    sched_yield();
    post_spin();
    return;
  }
  // Park. Activity that slips in between the check above and this store only costs one missed
  // poll window: the thread sleeps in epoll_wait and the next read resumes polling.
  parked_.store(true, std::memory_order_release);
}

void BusyPoller::post_spin() { net::post(ioc_, SpinHandler{this}); }

}  // namespace schemagate::proxy
