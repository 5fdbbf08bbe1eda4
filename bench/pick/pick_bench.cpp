// Google Benchmark figures for issue 4's balancing algorithms: the cost of one pick through the
// interface the proxy uses (balance::Balancer::pick), with 3, 100 and 10,000 instances; the time
// to build the hash tables for 10,000 instances; the share of keys that move when one of N
// instances is removed; and how evenly 1M picks spread (relative standard deviation of the
// per-instance counts). The last two are not timings: they are reported as counters.
// Run: bench/pick_bench.sh (pins to CPU 1, writes bench/results/).
#include <benchmark/benchmark.h>

#include <boost/asio/ip/address.hpp>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "balance/balancer.hpp"

namespace {

using namespace sb;
using Instances = std::vector<std::shared_ptr<upstream::Instance>>;

Instances make_instances(size_t n) {
  Instances out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const auto port = static_cast<uint16_t>(20000 + i);
    out.push_back(std::make_shared<upstream::Instance>(
        i + 1, "10.0.0.1", port,
        boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("10.0.0.1"), port), 1, 1));
  }
  return out;
}

std::unique_ptr<balance::Balancer> make(const std::string& algorithm, const Instances& instances,
                                        balance::SharedTables& shared) {
  balance::Options options;
  options.shared = &shared;
  std::string name = algorithm;
  if (algorithm == "hash_bounded") {
    name = "hash";
    options.balance_factor = 125;
  }
  return balance::make_balancer(name, instances, options);
}

bool keyed(const std::string& algorithm) {
  return algorithm == "hash" || algorithm == "hash_bounded" || algorithm == "ip_hash";
}

// One pick per iteration. Keys vary per iteration, as requests' keys do (a fixed key would sit in
// the cache); load-aware algorithms read the instances' real active counts (all 0 here, as
// between requests of a one-connection load).
void BM_Pick(benchmark::State& state, const std::string& algorithm) {
  const Instances instances = make_instances(static_cast<size_t>(state.range(0)));
  balance::SharedTables shared;
  const auto balancer = make(algorithm, instances, shared);
  balance::PickContext context{{}, std::nullopt, {}};
  uint64_t key = 0x9e3779b97f4a7c15ull;
  for (auto _ : state) {
    if (keyed(algorithm)) {
      key = key * 6364136223846793005ull + 1442695040888963407ull;
      context.key = key;
    }
    benchmark::DoNotOptimize(balancer->pick(context));
  }
}

// Building a service's balancer: for hash the Maglev table (65537 entries), for ip_hash the
// ketama ring; what a registration into a 10,000-instance service costs the control plane.
void BM_Build(benchmark::State& state, const std::string& algorithm) {
  const Instances instances = make_instances(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    balance::SharedTables shared;
    benchmark::DoNotOptimize(make(algorithm, instances, shared));
  }
}

// Share of 100,000 keys that land elsewhere when the last of N instances is removed (ideal: 1/N;
// the keys of the removed one must move, nothing else should).
void BM_KeysMoved(benchmark::State& state, const std::string& algorithm) {
  const auto n = static_cast<size_t>(state.range(0));
  const Instances all = make_instances(n);
  const Instances fewer(all.begin(), all.end() - 1);
  constexpr int kKeys = 100'000;
  double moved = 0;
  for (auto _ : state) {
    balance::SharedTables shared_all, shared_fewer;
    const auto before = make(algorithm, all, shared_all);
    const auto after = make(algorithm, fewer, shared_fewer);
    int count = 0;
    for (int k = 0; k < kKeys; ++k) {
      balance::PickContext context{{}, balance::hash_key("user-" + std::to_string(k)), {}};
      const size_t a = before->pick(context);
      const size_t b = after->pick(context);
      // Indexes agree for the instances both lists hold.
      if (a != b) ++count;
    }
    moved = static_cast<double>(count) / kKeys;
  }
  state.counters["moved"] = moved;
  state.counters["ideal"] = 1.0 / static_cast<double>(n);
  state.counters["moved_over_ideal"] = moved * static_cast<double>(n);
}

// Relative standard deviation (%) of per-instance pick counts over 1M picks with equal weights.
void BM_Evenness(benchmark::State& state, const std::string& algorithm) {
  const auto n = static_cast<size_t>(state.range(0));
  const Instances instances = make_instances(n);
  constexpr int kPicks = 1'000'000;
  double rsd = 0;
  for (auto _ : state) {
    balance::SharedTables shared;
    const auto balancer = make(algorithm, instances, shared);
    std::vector<int64_t> counts(n, 0);
    balance::PickContext context{{}, std::nullopt, {}};
    for (int i = 0; i < kPicks; ++i) {
      if (keyed(algorithm)) context.key = balance::hash_key("user-" + std::to_string(i));
      ++counts[balancer->pick(context)];
    }
    const double mean = static_cast<double>(kPicks) / static_cast<double>(n);
    double sum = 0;
    for (const int64_t c : counts) sum += (static_cast<double>(c) - mean) * (c - mean);
    rsd = 100.0 * std::sqrt(sum / static_cast<double>(n)) / mean;
  }
  state.counters["rsd_percent"] = rsd;
}

const char* const kAlgorithms[] = {"round_robin",  "least_conn", "ip_hash", "hash",
                                   "hash_bounded", "random",     "p2c",     "ewma"};

int register_all() {
  for (const char* algorithm : kAlgorithms) {
    benchmark::RegisterBenchmark((std::string("pick/") + algorithm).c_str(), BM_Pick, algorithm)
        ->Arg(3)
        ->Arg(100)
        ->Arg(10'000);
  }
  for (const char* algorithm : {"hash", "ip_hash"}) {
    benchmark::RegisterBenchmark((std::string("build/") + algorithm).c_str(), BM_Build, algorithm)
        ->Arg(10'000)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("moved/") + algorithm).c_str(), BM_KeysMoved,
                                 algorithm)
        ->Arg(3)
        ->Arg(10)
        ->Arg(100)
        ->Arg(1000)
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
  }
  for (const char* algorithm : kAlgorithms) {
    benchmark::RegisterBenchmark((std::string("evenness/") + algorithm).c_str(), BM_Evenness,
                                 algorithm)
        ->Arg(3)
        ->Arg(100)
        ->Arg(1000)
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
  }
  return 0;
}

const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
