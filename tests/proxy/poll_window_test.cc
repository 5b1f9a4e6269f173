// The busy-poll window's rule (proxy/poll_window.h), fed gaps and yields as a loaded I/O
// thread would see them. The BusyPoller that does the polling is exercised by the io
// integration tests; here only the decisions.
#include "proxy/poll_window.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace schemagate::proxy {
namespace {

using namespace std::chrono_literals;
using Time = PollWindow::Time;

constexpr auto kLargest = std::chrono::microseconds(40);

Time at(std::chrono::nanoseconds since_start) { return Time{} + std::chrono::hours(1) + since_start; }

TEST(PollWindow, StartsAtTheLargestWindow) {
  const PollWindow w(kLargest, true);
  EXPECT_EQ(w.window(), kLargest);
}

TEST(PollWindow, LongGapsShrinkItToNothing) {
  PollWindow w(kLargest, true);
  // An application that sends a query every few milliseconds: every poll is wasted.
  w.on_wakeup(3ms, at(0ms));
  EXPECT_EQ(w.window(), 20us);
  w.on_wakeup(3ms, at(3ms));
  EXPECT_EQ(w.window(), 10us);
  w.on_wakeup(3ms, at(6ms));
  EXPECT_EQ(w.window(), 0us) << "below a quarter of the largest, polling stops";
  w.on_wakeup(3ms, at(9ms));
  EXPECT_EQ(w.window(), 0us);
}

TEST(PollWindow, ShortGapsGrowItBackUpToTheLargest) {
  PollWindow w(kLargest, true);
  for (int i = 0; i < 3; ++i) w.on_wakeup(5ms, at(std::chrono::milliseconds(5 * i)));
  ASSERT_EQ(w.window(), 0us);
  // Now replies come 15 µs after the thread went to sleep: a window would have caught them.
  w.on_wakeup(15us, at(20ms));
  EXPECT_EQ(w.window(), 10us) << "from 0 it restarts at a quarter of the largest";
  w.on_wakeup(15us, at(21ms));
  EXPECT_EQ(w.window(), 20us);
  w.on_wakeup(15us, at(22ms));  // 20 + 15 ≤ 40: still worth growing
  EXPECT_EQ(w.window(), 40us);
  w.on_wakeup(0us, at(23ms));
  EXPECT_EQ(w.window(), kLargest) << "never beyond io.busy_poll_us";
}

TEST(PollWindow, AGapJustBeyondTheLargestWindowShrinksIt) {
  PollWindow w(kLargest, true);
  w.on_wakeup(1us, at(0ms));  // 40 + 1 > 40: the largest window would have missed it too
  EXPECT_EQ(w.window(), 20us);
}

TEST(PollWindow, AnEmptyYieldIsNoContention) {
  PollWindow w(kLargest, true);
  EXPECT_FALSE(w.on_yield(800ns, at(0ms)));
  EXPECT_FALSE(w.on_yield(60us, at(0ms))) << "the database answering on this core: the hand-off polling is for";
  EXPECT_FALSE(w.on_yield(PollWindow::kContendedYield, at(0ms)));
  EXPECT_EQ(w.window(), kLargest);
}

TEST(PollWindow, AnotherThreadOnTheCoreStopsPollingForABackoffThatDoubles) {
  PollWindow w(kLargest, true);
  ASSERT_TRUE(w.on_yield(3ms, at(0ms))) << "the yield ran someone else for a whole slice";
  EXPECT_EQ(w.window(), 0us);
  // Short gaps during the back-off (10 ms) do not bring polling back.
  w.on_wakeup(1us, at(5ms));
  EXPECT_EQ(w.window(), 0us);
  // After it, they do.
  w.on_wakeup(1us, at(11ms));
  EXPECT_EQ(w.window(), 10us);
  // Contended again at once: this time it waits 20 ms.
  ASSERT_TRUE(w.on_yield(1ms, at(12ms)));
  w.on_wakeup(1us, at(12ms + 19ms));
  EXPECT_EQ(w.window(), 0us);
  w.on_wakeup(1us, at(12ms + 21ms));
  EXPECT_EQ(w.window(), 10us);
}

TEST(PollWindow, TheBackoffIsCappedAndForgottenAfterAQuietPeriod) {
  PollWindow w(kLargest, true);
  auto now = at(0ms);
  std::chrono::nanoseconds expected = PollWindow::kFirstBackoff;
  for (int i = 0; i < 12; ++i) {  // a sidecar whose application keeps the core busy
    ASSERT_TRUE(w.on_yield(2ms, now));
    w.on_wakeup(1us, now + expected - 1ms);
    ASSERT_EQ(w.window(), 0us) << "round " << i << ": still backing off";
    now += expected + 1ms;
    w.on_wakeup(1us, now);
    ASSERT_EQ(w.window(), 10us) << "round " << i << ": polling is tried again after the back-off";
    expected = std::min<std::chrono::nanoseconds>(expected * 2, PollWindow::kMaxBackoff);
  }
  EXPECT_EQ(expected, PollWindow::kMaxBackoff) << "the loop reached the cap";
  // The application went quiet for long: the next contention backs off from the start again.
  now += 4 * PollWindow::kMaxBackoff + 1s;
  w.on_wakeup(1us, now);
  ASSERT_TRUE(w.on_yield(2ms, now));
  w.on_wakeup(1us, now + PollWindow::kFirstBackoff + 1ms);
  EXPECT_GT(w.window(), 0us);
}

TEST(PollWindow, FixedWindowIgnoresGapsAndYields) {
  PollWindow w(kLargest, false);
  w.on_wakeup(1s, at(0ms));
  EXPECT_FALSE(w.on_yield(5ms, at(1s)));
  EXPECT_EQ(w.window(), kLargest);
}

}  // namespace
}  // namespace schemagate::proxy
