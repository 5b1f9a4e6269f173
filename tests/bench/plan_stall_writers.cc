// Writers for tests/bench/plan-stall.sh: N libpq connections, each alternating a single-row
// UPDATE (random id) and a single-row INSERT on `orders`, extended protocol, until SIGTERM or
// SIGINT. Then writes one line per query to OUT: client, end time (µs since the epoch,
// CLOCK_REALTIME, so the script can compare it with `date +%s%6N`), latency µs, 1/0 (ok).
//
// Why not pgbench: pgbench has no graceful stop, and a killed pgbench loses the tail of its
// per-transaction log, which is exactly where the transaction a DDL blocked ends.
//
//   plan_stall_writers CONNINFO WRITERS THINK_US ROWS OUT
//   g++ -O2 -std=c++20 -pthread -I$(pg_config --includedir) plan_stall_writers.cc -lpq
#include <libpq-fe.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Sample {
  long long end_us;
  long long latency_us;
  bool ok;
};

std::atomic<bool> stop{false};

long long now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void writer(const std::string& conninfo, int client, long think_us, long rows, std::vector<Sample>& out,
            std::atomic<int>& connected) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::fprintf(stderr, "plan_stall_writers: client %d: %s", client, PQerrorMessage(c));
    PQfinish(c);
    std::exit(1);
  }
  ++connected;
  std::mt19937_64 rng(static_cast<unsigned>(client) + 1);
  std::uniform_int_distribution<long> any_row(1, rows);
  long next_id = 100'000'000L * (client + 1);  // inserted ids: above the generated ones, one range per client
  out.reserve(1 << 20);
  for (long n = 0; !stop.load(std::memory_order_relaxed); ++n) {
    std::string a, b, note;
    PGresult* r;
    const long long t0 = now_us();
    if (n % 2 == 0) {
      a = std::to_string(any_row(rng));
      const char* v[] = {a.c_str()};
      r = PQexecParams(c, "UPDATE orders SET amount = amount + 1 WHERE id = $1", 1, nullptr, v, nullptr, nullptr, 0);
    } else {
      const long id = next_id++;
      a = std::to_string(id);
      b = std::to_string(1 + id % 2000);
      note = "w" + a;
      const char* v[] = {a.c_str(), b.c_str(), note.c_str()};
      r = PQexecParams(c, "INSERT INTO orders (id, customer_id, note, amount) VALUES ($1, $2, $3, 1)", 3, nullptr, v,
                       nullptr, nullptr, 0);
    }
    const long long t1 = now_us();
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) std::fprintf(stderr, "plan_stall_writers: client %d: %s", client, PQresultErrorMessage(r));
    PQclear(r);
    out.push_back({t1, t1 - t0, ok});
    if (PQstatus(c) != CONNECTION_OK) break;
    if (think_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(think_us));
  }
  PQfinish(c);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s CONNINFO WRITERS THINK_US ROWS OUT\n", argv[0]);
    return 2;
  }
  const std::string conninfo = argv[1];
  const int writers = std::atoi(argv[2]);
  const long think_us = std::atol(argv[3]), rows = std::atol(argv[4]);
  // Every thread blocks the stop signals; main waits for one of them with sigwait.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  std::vector<std::vector<Sample>> samples(writers);
  std::vector<std::thread> threads;
  std::atomic<int> connected{0};
  for (int i = 0; i < writers; ++i)
    threads.emplace_back(writer, conninfo, i, think_us, rows, std::ref(samples[i]), std::ref(connected));
  while (connected.load() < writers) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::fprintf(stdout, "ready\n");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  stop = true;
  for (auto& t : threads) t.join();

  FILE* f = std::fopen(argv[5], "w");
  if (!f) return 1;
  for (int i = 0; i < writers; ++i)
    for (const auto& s : samples[i]) std::fprintf(f, "%d %lld %lld %d\n", i, s.end_us, s.latency_us, s.ok ? 1 : 0);
  return std::fclose(f) == 0 ? 0 : 1;
}
