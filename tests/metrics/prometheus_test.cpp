// duet::metrics::prometheus_text (issue 39, metrics export): the exposition
// of a runtime that ran tasks follows the text format's rules (checked by
// the validator below, which is itself shown to reject what the format
// forbids), counts what ran, and never goes down between two scrapes.
#include <catch2/catch.hpp>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "duet/duet.hpp"
#include "duet/metrics/prometheus.hpp"
#include "test_util.hpp"

namespace {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Parsed {
  std::map<std::string, std::string> types;  // family -> TYPE
  std::vector<Sample> samples;
};

bool is_name(const std::string& s, bool colon) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
                    (colon && c == ':') || (i > 0 && std::isdigit(static_cast<unsigned char>(c)));
    if (!ok) return false;
  }
  return true;
}

/// The family a sample belongs to: its own name, or for a histogram's
/// `_bucket`, `_sum` and `_count` samples the name without the suffix.
std::string family_of(const Parsed& p, const std::string& sample) {
  if (p.types.count(sample) != 0) return sample;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string sfx = suffix;
    if (sample.size() > sfx.size() &&
        sample.compare(sample.size() - sfx.size(), sfx.size(), sfx) == 0) {
      const std::string stem = sample.substr(0, sample.size() - sfx.size());
      const auto it = p.types.find(stem);
      if (it != p.types.end() && it->second == "histogram") return stem;
    }
  }
  return sample;
}

/// A histogram family's own rules: each series (its labels less `le`) has
/// buckets with increasing `le` bounds and cumulative counts that never go
/// down, ending in `le="+Inf"`, whose count equals the series' `_count`,
/// and a `_sum`; `le` appears on buckets only.
std::string check_histograms(const Parsed& p) {
  for (const auto& [family, type] : p.types) {
    if (type != "histogram") continue;
    struct Series {
      std::vector<std::pair<double, double>> buckets;  // (le, count) in order
      bool sum = false, count = false;
      double count_value = 0;
    };
    std::map<std::string, Series> series;
    for (const Sample& s : p.samples) {
      if (family_of(p, s.name) != family) continue;
      std::string key;
      for (const auto& [k, v] : s.labels) {
        if (k != "le") key += k + "=" + v + ",";
      }
      Series& x = series[key];
      if (s.name == family + "_bucket") {
        const auto le = s.labels.find("le");
        if (le == s.labels.end()) return "a bucket without le: " + s.name;
        const double bound =
            le->second == "+Inf" ? HUGE_VAL : std::strtod(le->second.c_str(), nullptr);
        if (!x.buckets.empty() && bound <= x.buckets.back().first)
          return "le not increasing: " + family;
        if (!x.buckets.empty() && s.value < x.buckets.back().second)
          return "buckets not cumulative: " + family;
        x.buckets.emplace_back(bound, s.value);
      } else if (s.labels.count("le") != 0) {
        return "le on a non-bucket sample: " + s.name;
      } else if (s.name == family + "_sum") {
        x.sum = true;
      } else if (s.name == family + "_count") {
        x.count = true;
        x.count_value = s.value;
      } else {
        return "a histogram sample without a suffix: " + s.name;
      }
    }
    for (const auto& [key, x] : series) {
      if (x.buckets.empty() || x.buckets.back().first != HUGE_VAL)
        return "no +Inf bucket: " + family;
      if (!x.sum || !x.count) return "no _sum or _count: " + family;
      if (x.count_value != x.buckets.back().second) return "+Inf is not _count: " + family;
    }
  }
  return "";
}

/// Parses `text` under the text format's rules (version 0.0.4); returns ""
/// and fills `out`, or what broke a rule. The rules: every line ends with a
/// newline; `# HELP name text` and `# TYPE name type` at most once per
/// family, TYPE before the family's samples, a family's samples together;
/// metric and label names well formed, label names unique in a sample and
/// not reserved (`__`), label values with only \\, \" and \n escapes; the
/// value a float; no sample twice; a histogram's rules (check_histograms).
std::string parse(const std::string& text, Parsed& out) {
  if (text.empty() || text.back() != '\n') return "the text does not end with a newline";
  std::istringstream in(text);
  std::string line;
  std::set<std::string> helped, closed, seen;
  std::string current;  // the family whose samples come now
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      const bool help = line[2] == 'H';
      const std::string rest = line.substr(7);
      const auto sp = rest.find(' ');
      const std::string name = rest.substr(0, sp);
      if (!is_name(name, true)) return "bad family name: " + line;
      if (closed.count(name) != 0) return "a family's lines are not together: " + line;
      if (help) {
        if (!helped.insert(name).second) return "HELP twice: " + line;
      } else {
        if (out.types.count(name) != 0) return "TYPE twice: " + line;
        const std::string type = sp == std::string::npos ? "" : rest.substr(sp + 1);
        static const std::set<std::string> types{"counter", "gauge", "histogram", "summary",
                                                 "untyped"};
        if (types.count(type) == 0) return "bad type: " + line;
        out.types[name] = type;
      }
      if (current != name && !current.empty()) closed.insert(current);
      current = name;
      continue;
    }
    if (line.empty() || line[0] == '#') continue;  // other comments
    Sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') s.name += line[i++];
    if (!is_name(s.name, true)) return "bad metric name: " + line;
    const std::string family = family_of(out, s.name);
    if (out.types.count(family) == 0) return "a sample before its TYPE: " + line;
    if (family != current) {
      if (closed.count(family) != 0) return "a family's samples are not together: " + line;
      if (!current.empty()) closed.insert(current);
      current = family;
    }
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::string k;
        while (i < line.size() && line[i] != '=') k += line[i++];
        if (!is_name(k, false) || k.rfind("__", 0) == 0) return "bad label name: " + line;
        if (i + 1 >= line.size() || line[i + 1] != '"') return "label value not quoted: " + line;
        i += 2;
        std::string v;
        for (;;) {
          if (i >= line.size()) return "label value not closed: " + line;
          const char c = line[i++];
          if (c == '"') break;
          if (c == '\\') {
            if (i >= line.size()) return "escape at the end: " + line;
            const char e = line[i++];
            if (e == 'n') {
              v += '\n';
            } else if (e == '\\' || e == '"') {
              v += e;
            } else {
              return "bad escape: " + line;
            }
          } else {
            v += c;
          }
        }
        if (!s.labels.emplace(k, v).second) return "label twice: " + line;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) return "labels not closed: " + line;
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') return "no value: " + line;
    const std::string value = line.substr(i + 1);
    char* end = nullptr;
    s.value = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0') return "bad value: " + line;
    std::string key = s.name;
    for (const auto& [k, v] : s.labels) key += "|" + k + "=" + v;
    if (!seen.insert(key).second) return "a sample twice: " + line;
    out.samples.push_back(std::move(s));
  }
  return check_histograms(out);
}

double sum_of(const Parsed& p, const std::string& name) {
  double t = 0;
  for (const Sample& s : p.samples) {
    if (s.name == name) t += s.value;
  }
  return t;
}

std::size_t count_of(const Parsed& p, const std::string& name) {
  std::size_t n = 0;
  for (const Sample& s : p.samples) n += s.name == name ? 1 : 0;
  return n;
}

duet::Task<int> one(int i) {
  co_return i;
}

/// Spawns `n` tasks at once, then joins them: their sum.
duet::Task<long> spawn_all(duet::Runtime& rt, int n) {
  std::vector<duet::JoinHandle<int>> hs;
  for (int i = 0; i < n; ++i) hs.push_back(rt.spawn(one(i)));
  long s = 0;
  for (auto& h : hs) s += co_await h;
  co_return s;
}

}  // namespace

TEST_CASE("metrics: the validator rejects what the text format forbids") {
  Parsed p;
  CHECK(parse("# TYPE a counter\na 1\n", p) == "");
  Parsed h;
  CHECK(
      parse(
          "# TYPE h histogram\nh_bucket{w=\"0\",le=\"1e-06\"} 1\nh_bucket{w=\"0\",le=\"+Inf\"} 3\n"
          "h_sum{w=\"0\"} 0.5\nh_count{w=\"0\"} 3\n",
          h) == "");
  for (const char* bad : {
           "a 1\n",                                                // no TYPE
           "# TYPE a counter\na 1",                                // no final newline
           "# TYPE a counter\n# TYPE a counter\na 1\n",            // TYPE twice
           "# TYPE a bogus\na 1\n",                                // bad type
           "# TYPE 1a counter\n1a 1\n",                            // bad name
           "# TYPE a counter\na{x=\"\\t\"} 1\n",                   // bad escape
           "# TYPE a counter\na{x=\"1\",x=\"2\"} 1\n",             // label twice
           "# TYPE a counter\na{__x=\"1\"} 1\n",                   // reserved label name
           "# TYPE a counter\na one\n",                            // bad value
           "# TYPE a counter\na 1\na 2\n",                         // sample twice
           "# TYPE a counter\n# TYPE b counter\na 1\nb 1\na 2\n",  // not together
           // histograms: no +Inf, +Inf not _count, not cumulative, le not
           // increasing, no _sum, le on _sum
           "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
           "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
           "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count "
           "1\n",
           "# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} "
           "1\nh_sum 1\nh_count 1\n",
           "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
           "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum{le=\"1\"} 1\nh_count 1\n",
       }) {
    Parsed q;
    INFO(bad);
    CHECK(parse(bad, q) != "");
  }
}

TEST_CASE("metrics: a runtime's exposition follows the text format and counts what ran") {
  duet::test::Watchdog wd("metrics exposition");
  duet::Runtime rt(duet::test::cpu_only_config(2));
  constexpr int kTasks = 200;
  REQUIRE(rt.block_on(spawn_all(rt, kTasks)) == kTasks * (kTasks - 1) / 2);

  const std::string text = duet::metrics::prometheus_text(rt);
  Parsed p;
  INFO(text);
  REQUIRE(parse(text, p) == "");
  CHECK(p.types.at("duet_workers") == "gauge");
  CHECK(sum_of(p, "duet_workers") == 2);
  for (const auto& [name, type] : p.types) {
    if (name.rfind("duet_worker_", 0) == 0) {
      INFO(name);
      CHECK(type == "counter");
      CHECK(count_of(p, name) == 2);  // one sample per worker
    }
  }
  // Every task ran at least once (the root and its children), inline or not.
  CHECK(sum_of(p, "duet_worker_polls_total") + sum_of(p, "duet_worker_inline_joins_total") >=
        kTasks);
  CHECK(count_of(p, "duet_io_driver_info") == 1);
  CHECK(p.types.at("duet_io_cqes_total") == "counter");
  // Runtime::memory_stats(): process-wide gauges, and one sample per worker for
  // the drivers' mappings.
  for (const char* g : {"duet_memory_block_chunk_bytes", "duet_memory_block_carved_bytes",
                        "duet_memory_block_depot_bytes", "duet_memory_stack_pooled_bytes",
                        "duet_memory_stack_resident_bytes"}) {
    INFO(g);
    CHECK(p.types.at(g) == "gauge");
    CHECK(count_of(p, g) == 1);
  }
  CHECK(count_of(p, "duet_memory_io_ring_bytes") == 2);
  CHECK(count_of(p, "duet_memory_io_buffer_ring_bytes") == 2);
  if (!duet::test::sanitized) CHECK(sum_of(p, "duet_memory_block_carved_bytes") > 0);

  // Appending keeps what the string held.
  std::string both = "# a comment of the caller\n";
  duet::metrics::write_prometheus(rt, both);
  CHECK(both.rfind("# a comment of the caller\n# HELP duet_workers ", 0) == 0);
}

TEST_CASE("metrics: counters never go down between two scrapes") {
  duet::test::Watchdog wd("metrics monotonic");
  duet::Runtime rt(duet::test::cpu_only_config(2));
  Parsed before;
  REQUIRE(parse(duet::metrics::prometheus_text(rt), before) == "");
  for (int round = 0; round < 3; ++round) {
    (void)rt.block_on([]() -> duet::Task<int> {
      co_await duet::yield_now();
      co_return 0;
    }());
  }
  Parsed after;
  REQUIRE(parse(duet::metrics::prometheus_text(rt), after) == "");
  REQUIRE(before.samples.size() == after.samples.size());
  for (std::size_t i = 0; i < after.samples.size(); ++i) {
    const Sample& a = before.samples[i];
    const Sample& b = after.samples[i];
    INFO(b.name);
    REQUIRE(a.name == b.name);
    REQUIRE(a.labels == b.labels);
    if (after.types.at(family_of(after, b.name)) == "counter") CHECK(b.value >= a.value);
  }
  CHECK(sum_of(after, "duet_worker_polls_total") > sum_of(before, "duet_worker_polls_total"));
}

TEST_CASE("metrics: the sampled histograms are exported as Prometheus histograms") {
  duet::test::Watchdog wd("metrics histograms");
  auto cfg = duet::test::cpu_only_config(2);
  cfg.histogram_sample_every = 1;
  cfg.tick_budget = 1;  // every run is a tick's first: every run timed
  duet::Runtime rt(cfg);
  constexpr int kTasks = 100;
  REQUIRE(rt.block_on(spawn_all(rt, kTasks)) == kTasks * (kTasks - 1) / 2);
  rt.shutdown();  // every run has returned: the counts are final

  const std::string text = duet::metrics::prometheus_text(rt);
  Parsed p;
  INFO(text);
  REQUIRE(parse(text, p) == "");
  for (const char* f : {"duet_worker_run_seconds", "duet_worker_scheduling_delay_seconds"}) {
    INFO(f);
    CHECK(p.types.at(f) == "histogram");
    CHECK(count_of(p, std::string(f) + "_count") == 2);  // one series per worker
    CHECK(count_of(p, std::string(f) + "_sum") == 2);
  }
  // Every run was timed but those a worker found by searching (at most its
  // steals and injector pops) and one a worker that stopped right after a
  // run (tests/metrics/histogram_test.cpp says why). How many a search
  // found is the scheduler's race: a worker that steals the spawns as they
  // come finds nearly all of them by searching, so no fixed share of the
  // runs is promised, only the bound from the counters.
  const double timed = sum_of(p, "duet_worker_run_seconds_count");
  const double polls = sum_of(p, "duet_worker_polls_total");
  CHECK(polls >= kTasks + 1);
  CHECK(timed <= polls);
  CHECK(timed + sum_of(p, "duet_worker_steals_total") +
            sum_of(p, "duet_worker_injector_pops_total") + 2 >=
        polls);
  CHECK(timed >= 1);
  CHECK(sum_of(p, "duet_worker_run_seconds_sum") > 0);
  // No measured fiber finished: no stack family.
  CHECK(p.types.count("duet_worker_fiber_stack_bytes") == 0);
  CHECK(count_of(p, "duet_memory_io_buffers_in_use") == 2);
}

TEST_CASE("metrics: histograms off export no histogram family") {
  duet::Runtime rt(duet::test::cpu_only_config(1));
  (void)rt.block_on(one(1));
  Parsed p;
  REQUIRE(parse(duet::metrics::prometheus_text(rt), p) == "");
  for (const auto& [name, type] : p.types) {
    INFO(name);
    CHECK(type != "histogram");
  }
}
