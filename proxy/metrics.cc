#include "proxy/metrics.h"

#include <cmath>
#include <cstdio>

#include "policy/rules.h"

namespace schemagate::proxy {
namespace {

// Upper bounds in seconds. Catalog queries are one round trip on the client's connection;
// plans and holds run from a second to an hour.
constexpr std::array<double, kBucketCount> kFastBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                           0.05,   0.1,   0.25,   0.5,   1,    5};
constexpr std::array<double, kBucketCount> kSlowBuckets = {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600};

struct CounterInfo {
  const char* name;
  const char* labels;
  const char* help;
};
constexpr CounterInfo kCounters[] = {
#define SG_INFO(id, name, labels, help) {name, labels, help},
    SG_METRIC_COUNTERS(SG_INFO)
#undef SG_INFO
};
struct HistogramInfo {
  const char* name;
  const char* help;
  const std::array<double, kBucketCount>* bounds;
};
constexpr HistogramInfo kHistograms[] = {
#define SG_INFO(id, name, help, buckets) {name, help, &buckets},
    SG_METRIC_HISTOGRAMS(SG_INFO)
#undef SG_INFO
};

thread_local unsigned t_shard = ~0u;  // ~0: not an I/O thread

std::string number(double v) {
  if (std::isinf(v)) return "+Inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

void family_header(std::string& out, std::string_view name, std::string_view help, std::string_view type) {
  out.append("# HELP schemagate_").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE schemagate_").append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, std::string_view name, std::string_view labels, const std::string& value) {
  out.append("schemagate_").append(name);
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.append(" ").append(value).append("\n");
}

/// Label values are rule ids and SQLSTATE classes (letters, digits, '_'), but escape anyway:
/// a broken line would make the whole scrape fail.
std::string label_value(std::string_view v) {
  std::string s;
  for (char c : v) {
    if (c == '\\' || c == '"') s += '\\';
    if (c == '\n') {
      s += "\\n";
      continue;
    }
    s += c;
  }
  return s;
}

}  // namespace

Metrics::Metrics(unsigned io_threads) : shards_(static_cast<std::size_t>(io_threads) + 1) {
  for (const auto& r : policy::rule_catalogue()) {
    if (rule_names_.size() + 1 >= kRuleSlots) break;
    rule_names_.emplace_back(r.id);
  }
  rule_names_.push_back("default_action");
}

Metrics::~Metrics() = default;

void Metrics::bind_thread(unsigned index) { t_shard = index; }

Metrics::Shard& Metrics::shard() {
  const std::size_t last = shards_.size() - 1;
  return shards_[t_shard < last ? t_shard : last];
}

void Metrics::observe(Histogram h, double seconds) {
  auto& row = shard().histograms[static_cast<std::size_t>(h)];
  const auto& bounds = *kHistograms[static_cast<std::size_t>(h)].bounds;
  std::size_t i = 0;
  while (i < kBucketCount && seconds > bounds[i]) ++i;
  row[i].fetch_add(1, std::memory_order_relaxed);  // i == kBucketCount: +Inf only
  const double us = seconds > 0 ? seconds * 1e6 : 0;
  row[kBucketCount + 1].fetch_add(static_cast<std::uint64_t>(us), std::memory_order_relaxed);
}

void Metrics::count_error(std::string_view sqlstate) {
  const auto cls = sqlstate.substr(0, 2);
  std::size_t i = 0;
  while (i + 1 < kSqlStateClasses.size() && kSqlStateClasses[i] != cls) ++i;
  shard().errors[i].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::count_rule(std::string_view rule_id) {
  std::size_t i = 0;
  while (i < rule_names_.size() && rule_names_[i] != rule_id) ++i;
  shard().rules[i < rule_names_.size() ? i : kRuleSlots].fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t Metrics::total(Counter c) const {
  std::uint64_t sum = 0;
  for (const auto& s : shards_) sum += s.counters[static_cast<std::size_t>(c)].load(std::memory_order_relaxed);
  return sum;
}

std::string Metrics::render(const MetricsGauges& g) const {
  std::string out;
  out.reserve(16 * 1024);

  // Gauges first: what is true now.
  const auto gauge = [&](std::string_view name, std::string_view help, const std::function<std::int64_t()>& f) {
    if (!f) return;
    const auto v = f();
    if (v < 0) return;
    family_header(out, name, help, "gauge");
    sample(out, name, "", std::to_string(v));
  };
  family_header(out, "build_info", "Always 1; the version is a label.", "gauge");
  sample(out, "build_info", "version=\"" SG_VERSION "\"", "1");
  gauge("client_connections_open", "Client connections open now.", g.client_connections);
  gauge("server_connections_open", "Connections to the database server open now.", g.server_connections);
  gauge("approval_requests_pending", "Approval requests waiting for a decision.", g.pending_requests);
  if (g.draining) gauge("draining", "1 while the proxy drains for shutdown (readiness is false).", [&] {
    return static_cast<std::int64_t>(g.draining());
  });
  if (g.ddl_paused) gauge("ddl_paused", "1 while new schema changes are refused (PAUSE on the admin console).", [&] {
    return static_cast<std::int64_t>(g.ddl_paused());
  });

  std::string_view family;
  for (std::size_t c = 0; c < kCounterCount; ++c) {
    const auto& info = kCounters[c];
    if (family != info.name) {
      family = info.name;
      // The exposition names a counter family without its _total suffix.
      std::string_view base = family;
      if (base.size() > 6 && base.substr(base.size() - 6) == "_total") base.remove_suffix(6);
      family_header(out, base, info.help, "counter");
    }
    sample(out, info.name, info.labels, std::to_string(total(static_cast<Counter>(c))));
  }

  const auto sum_of = [&](auto member, std::size_t i) {
    std::uint64_t v = 0;
    for (const auto& s : shards_) v += (s.*member)[i].load(std::memory_order_relaxed);
    return v;
  };
  family_header(out, "errors", "ErrorResponses sent to clients (the server's and schemagate's), by SQLSTATE class.",
                "counter");
  for (std::size_t i = 0; i < kSqlStateClasses.size(); ++i) {
    const auto v = sum_of(&Shard::errors, i);
    if (v == 0) continue;  // 45 classes: print the ones seen
    sample(out, "errors_total", "class=\"" + label_value(kSqlStateClasses[i]) + "\"", std::to_string(v));
  }
  family_header(out, "rule_matches", "Policy rules that matched a statement, by rule.", "counter");
  for (std::size_t i = 0; i <= rule_names_.size(); ++i) {
    const std::size_t slot = i < rule_names_.size() ? i : kRuleSlots;
    const auto v = sum_of(&Shard::rules, slot);
    if (v == 0) continue;
    const std::string name = i < rule_names_.size() ? rule_names_[i] : "other";
    sample(out, "rule_matches_total", "rule=\"" + label_value(name) + "\"", std::to_string(v));
  }

  for (std::size_t h = 0; h < kHistogramCount; ++h) {
    const auto& info = kHistograms[h];
    family_header(out, info.name, info.help, "histogram");
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b <= kBucketCount; ++b) {
      std::uint64_t v = 0;
      for (const auto& s : shards_) v += s.histograms[h][b].load(std::memory_order_relaxed);
      cumulative += v;
      const double le = b < kBucketCount ? (*info.bounds)[b] : INFINITY;
      sample(out, std::string(info.name) + "_bucket", "le=\"" + number(le) + "\"", std::to_string(cumulative));
    }
    std::uint64_t sum_us = 0;
    for (const auto& s : shards_) sum_us += s.histograms[h][kBucketCount + 1].load(std::memory_order_relaxed);
    sample(out, std::string(info.name) + "_sum", "", number(static_cast<double>(sum_us) / 1e6));
    sample(out, std::string(info.name) + "_count", "", std::to_string(cumulative));
  }
  if (g.extra) out += g.extra();
  return out;
}

}  // namespace schemagate::proxy
