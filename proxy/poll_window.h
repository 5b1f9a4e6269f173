#pragma once
#include <algorithm>
#include <chrono>

namespace schemagate::proxy {

/// How long an I/O thread busy-polls before it sleeps, adapted to what polling finds. Pure: the
/// BusyPoller tells it what happened and asks it for the window; it reads no clock itself.
///
/// The rule for idle gaps is KVM's halt polling (virt/kvm/kvm_main.c, grow/shrink_halt_poll_ns):
/// after the thread slept, the whole idle gap (the window it polled, plus the sleep) says what a
/// window would have bought:
/// - gap ≤ the largest window: polling longer would have caught the work without a wake-up, so
///   the window doubles (from 0 it starts at a quarter of the largest);
/// - gap > the largest window: polling was wasted CPU, so the window halves, and below a quarter
///   of the largest it is 0: no polling until short gaps come back.
///
/// One thing KVM does not meet: a proxy often shares its core with other processes. A yield
/// that hands the core to the database for the few tens of microseconds it takes to answer is
/// what makes polling pay on a gateway host (the reply is there when the yield returns, with no
/// wake-up); an earlier rule that stopped polling at any late yield lost that whole gain. But a
/// yield that comes back after a scheduler slice (kContendedYield) means a process that does
/// not answer quickly — an application computing beside its sidecar, a batch job — wanted the
/// core, and the poll loop competes with it: the window goes to 0 and stays there for a
/// back-off, which doubles at each such finding up to kMaxBackoff and starts again from
/// kFirstBackoff once a quiet period passes.
///
/// Not adaptive (io.busy_poll_adaptive: false), the window is always the largest.
class PollWindow {
 public:
  using Duration = std::chrono::nanoseconds;
  using Time = std::chrono::steady_clock::time_point;

  /// A yield that took longer than this ran a process that kept the core: an empty sched_yield
  /// is a syscall (well under a microsecond), a hand-off to a database answering a short query
  /// tens of microseconds, a CPU-bound neighbour a scheduler slice (0.75 ms and more).
  static constexpr Duration kContendedYield = std::chrono::microseconds(500);
  static constexpr Duration kFirstBackoff = std::chrono::milliseconds(10);
  static constexpr Duration kMaxBackoff = std::chrono::seconds(2);

  PollWindow(Duration largest, bool adaptive) : largest_(largest), adaptive_(adaptive), window_(largest) {}

  Duration window() const { return window_; }
  Duration largest() const { return largest_; }

  /// The thread polled window() without finding work, then slept `slept` until work came.
  void on_wakeup(Duration slept, Time now) {
    if (!adaptive_ || now < suspended_until_) return;
    if (now - last_contention_ > kQuietFactor * backoff_) backoff_ = kFirstBackoff;
    const Duration step = largest_ / 4;
    if (window_ + slept <= largest_) {
      window_ = window_ < step ? step : std::min(window_ * 2, largest_);
    } else {
      window_ /= 2;
      if (window_ < step) window_ = Duration::zero();
    }
  }

  /// A sched_yield in the poll loop took `took`. True: another thread wanted this CPU, and
  /// polling stops (the window is 0 until the back-off passes).
  bool on_yield(Duration took, Time now) {
    if (!adaptive_ || took <= kContendedYield) return false;
    window_ = Duration::zero();
    suspended_until_ = now + backoff_;
    last_contention_ = now;
    backoff_ = std::min(backoff_ * 2, kMaxBackoff);
    return true;
  }

 private:
  static constexpr int kQuietFactor = 4;  // quiet for 4 back-offs: the next one starts small
  const Duration largest_;
  const bool adaptive_;
  Duration window_;
  Duration backoff_ = kFirstBackoff;
  Time suspended_until_{};
  Time last_contention_{};
};

}  // namespace schemagate::proxy
