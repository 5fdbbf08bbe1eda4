// Unit tests of src/proxy/retry_budget.hpp: retries in flight stay under a share of the
// service's active requests (summed over workers), never under the floor, and a request keeps
// its place for all its retries until it ends.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "proxy/retry_budget.hpp"

namespace sb::proxy {
namespace {

TEST(RetryBudget, FloorAllowsRetriesWhenQuiet) {
  RetryBudget budget(1);
  std::vector<std::unique_ptr<BudgetedRequest>> requests;
  for (int i = 0; i < 4; ++i) requests.push_back(std::make_unique<BudgetedRequest>(budget, 0));
  // 20 % of 4 is 0: the floor of 3 decides.
  EXPECT_TRUE(requests[0]->allow_retry(20, 3));
  EXPECT_TRUE(requests[1]->allow_retry(20, 3));
  EXPECT_TRUE(requests[2]->allow_retry(20, 3));
  EXPECT_FALSE(requests[3]->allow_retry(20, 3));
  EXPECT_EQ(budget.retries_in_flight(), 3);
}

TEST(RetryBudget, ShareOfActiveRequestsAcrossWorkers) {
  RetryBudget budget(2);
  std::vector<std::unique_ptr<BudgetedRequest>> requests;
  for (int i = 0; i < 50; ++i) {
    requests.push_back(std::make_unique<BudgetedRequest>(budget, static_cast<unsigned>(i % 2)));
  }
  int allowed = 0;
  for (auto& request : requests) allowed += request->allow_retry(20, 3) ? 1 : 0;
  EXPECT_EQ(allowed, 10);  // 20 % of 50, the 25 of each worker summed
}

TEST(RetryBudget, RequestKeepsItsPlaceAndGivesItBackAtTheEnd) {
  RetryBudget budget(1);
  auto first = std::make_unique<BudgetedRequest>(budget, 0);
  auto second = std::make_unique<BudgetedRequest>(budget, 0);
  EXPECT_TRUE(first->allow_retry(0, 1));
  EXPECT_TRUE(first->allow_retry(0, 1));  // its second retry: same place
  EXPECT_EQ(budget.retries_in_flight(), 1);
  EXPECT_FALSE(second->allow_retry(0, 1));
  first.reset();
  EXPECT_EQ(budget.retries_in_flight(), 0);
  EXPECT_TRUE(second->allow_retry(0, 1));
}

TEST(RetryBudget, NoFloorAndNoShareMeansNoRetry) {
  RetryBudget budget(1);
  BudgetedRequest request(budget, 0);
  EXPECT_FALSE(request.allow_retry(0, 0));
  EXPECT_EQ(budget.retries_in_flight(), 0);
}

}  // namespace
}  // namespace sb::proxy
