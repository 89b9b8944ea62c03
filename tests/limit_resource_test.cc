// Tests of strata::limit_resource.
//
//   allocate/deallocate  ChargesAndRefundsTheBytesAsked,
//                        RefusesWhatWouldPassTheLimit,
//                        UpstreamFailureIsNotCharged
//   on_limit             HandlerCanFreeAndRetry, HandlerIsToldTheNumbers,
//                        HandlerGivesUpAfterMaxRetries
//   set_limit            LoweringBelowInUseFailsUntilFreed
//   stats                StatsCountPeakHitsAndFailures
//   the header example   HeaderExampleWorks
// The contracts every resource keeps are in limit_resource_conformance_test;
// threads hammering a limit in stress/limit_resource_stress_test.

#include "strata/limit_resource.h"

#include <atomic>
#include <cstddef>
#include <memory_resource>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

#include "strata/adapters/test_resource.h"
#include "strata/limit_exceeded.h"

#include "testing/checker.h"

namespace strata {
namespace {

class LimitResourceTest : public testing::UpstreamCheckedTest {};

TEST_F(LimitResourceTest, ChargesAndRefundsTheBytesAsked) {
  limit_resource capped({.limit = 1000}, &upstream_);
  void* a = capped.allocate(300, 8);
  void* b = capped.allocate(700, 64);
  EXPECT_EQ(capped.in_use(), 1000u);
  capped.deallocate(a, 300, 8);
  EXPECT_EQ(capped.in_use(), 700u);
  capped.deallocate(b, 700, 64);
  EXPECT_EQ(capped.in_use(), 0u);
}

TEST_F(LimitResourceTest, RefusesWhatWouldPassTheLimit) {
  limit_resource capped({.limit = 1000}, &upstream_);
  void* a = capped.allocate(600, 8);
  try {
    static_cast<void>(capped.allocate(401, 8));
    ADD_FAILURE() << "no exception";
  } catch (const limit_exceeded& e) {
    EXPECT_EQ(e.requested(), 401u);
    EXPECT_EQ(e.in_use(), 600u);
    EXPECT_EQ(e.limit(), 1000u);
    EXPECT_EQ(std::string(e.what()),
              "strata: limit_resource: allocating 401 bytes would exceed the "
              "limit of 1000 bytes (600 bytes in use)");
  }
  EXPECT_EQ(capped.in_use(), 600u);  // nothing charged for the refusal
  EXPECT_EQ(upstream_.stats().allocations, 1u);
  void* b = capped.allocate(400, 8);  // exactly at the limit: fine
  capped.deallocate(b, 400, 8);
  capped.deallocate(a, 600, 8);
}

TEST_F(LimitResourceTest, UpstreamFailureIsNotCharged) {
  limit_resource capped({.limit = 1000}, &upstream_);
  upstream_.fail_after(1);
  EXPECT_THROW(static_cast<void>(capped.allocate(500, 8)), std::bad_alloc);
  EXPECT_EQ(capped.in_use(), 0u);
  EXPECT_EQ(capped.stats().failures, 0u);  // the upstream failed, not the limit
}

TEST_F(LimitResourceTest, HandlerCanFreeAndRetry) {
  std::vector<std::pair<void*, std::size_t>> cache;
  limit_resource* self = nullptr;
  limit_resource capped({.limit = 1000,
                         .on_limit =
                             [&](const limit_event&) {
                               if (cache.empty()) return false;
                               self->deallocate(cache.back().first,
                                                cache.back().second, 8);
                               cache.pop_back();
                               return true;
                             }},
                        &upstream_);
  self = &capped;
  for (int i = 0; i < 4; ++i) cache.emplace_back(capped.allocate(250, 8), 250);
  // Full: the handler evicts two cache entries, one per retry.
  void* p = capped.allocate(500, 8);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(capped.stats().limit_hits, 1u);
  EXPECT_EQ(capped.stats().failures, 0u);
  capped.deallocate(p, 500, 8);
  for (auto [q, n] : cache) capped.deallocate(q, n, 8);
}

TEST_F(LimitResourceTest, HandlerIsToldTheNumbers) {
  std::vector<limit_event> events;
  limit_resource capped({.limit = 100,
                         .on_limit =
                             [&](const limit_event& e) {
                               events.push_back(e);
                               return false;
                             }},
                        &upstream_);
  void* p = capped.allocate(60, 8);
  EXPECT_THROW(static_cast<void>(capped.allocate(50, 8)), limit_exceeded);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].requested, 50u);
  EXPECT_EQ(events[0].in_use, 60u);
  EXPECT_EQ(events[0].limit, 100u);
  EXPECT_EQ(events[0].attempt, 1);
  capped.deallocate(p, 60, 8);
}

TEST_F(LimitResourceTest, HandlerGivesUpAfterMaxRetries) {
  int calls = 0;
  limit_resource capped({.limit = 10,
                         .on_limit =
                             [&](const limit_event&) {
                               ++calls;
                               return true;  // claims progress, frees nothing
                             },
                         .max_retries = 3},
                        &upstream_);
  EXPECT_THROW(static_cast<void>(capped.allocate(11, 8)), limit_exceeded);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(capped.stats().failures, 1u);
}

TEST_F(LimitResourceTest, LoweringBelowInUseFailsUntilFreed) {
  limit_resource capped({.limit = 1000}, &upstream_);
  void* a = capped.allocate(800, 8);
  capped.set_limit(500);
  EXPECT_EQ(capped.limit(), 500u);
  EXPECT_THROW(static_cast<void>(capped.allocate(1, 1)), limit_exceeded);
  capped.deallocate(a, 800, 8);
  void* b = capped.allocate(500, 8);
  capped.deallocate(b, 500, 8);
}

TEST_F(LimitResourceTest, StatsCountPeakHitsAndFailures) {
  limit_resource capped({.limit = 100}, &upstream_);
  void* a = capped.allocate(70, 8);
  void* b = capped.allocate(30, 8);
  capped.deallocate(b, 30, 8);
  EXPECT_THROW(static_cast<void>(capped.allocate(31, 8)), limit_exceeded);
  const limit_resource_stats s = capped.stats();
  EXPECT_EQ(s.in_use, 70u);
  EXPECT_EQ(s.peak, 100u);
  EXPECT_EQ(s.limit, 100u);
  EXPECT_EQ(s.limit_hits, 1u);
  EXPECT_EQ(s.failures, 1u);
  capped.deallocate(a, 70, 8);
}

// The example of limit_resource.h, with a cache to trim.
struct fake_cache {
  std::size_t trim(std::size_t) { return 0; }  // nothing left to free
};

TEST_F(LimitResourceTest, HeaderExampleWorks) {
  fake_cache cache;
  strata::limit_resource capped({.limit = 64 << 20,
                                 .on_limit =
                                     [&](const strata::limit_event& e) {
                                       return cache.trim(e.requested) >
                                              0;  // freed something: retry
                                     }},
                                &upstream_);
  {
    std::pmr::vector<char> v(&capped);
    v.resize(1 << 20);  // charged: 1 MiB of 64 MiB
    EXPECT_EQ(capped.in_use(), 1u << 20);
    // Past 64 MiB, after the handler gives up: strata::limit_exceeded.
    EXPECT_THROW(v.resize(65 << 20), limit_exceeded);
  }
}

}  // namespace
}  // namespace strata
