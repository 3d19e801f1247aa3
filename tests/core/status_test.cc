// Tests of confml/core/status.h: codes, messages, context and StatusOr.
#include "confml/core/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <sstream>
#include <string>

namespace confml {
namespace {

TEST(StatusTest, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.ToString(), "OK");
  EXPECT_TRUE(OkStatus().ok());
  // An OK status carries no message.
  EXPECT_EQ(Status(StatusCode::kOk, "ignored").message(), "");
}

TEST(StatusTest, ErrorsCarryCodeAndMessage) {
  Status s = NotFoundError("no file 'x'");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "no file 'x'");
  EXPECT_EQ(s.ToString(), "NotFound: no file 'x'");
  std::ostringstream os;
  os << s;
  EXPECT_EQ(os.str(), "NotFound: no file 'x'");

  EXPECT_EQ(InvalidArgumentError("").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(DataLossError("").code(), StatusCode::kDataLoss);
  EXPECT_EQ(FailedPreconditionError("").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(UnauthenticatedError("").code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(UnimplementedError("").code(), StatusCode::kUnimplemented);
  EXPECT_EQ(StatusCodeName(StatusCode::kDataLoss), "DataLoss");
  EXPECT_EQ(StatusCodeName(StatusCode::kUnauthenticated), "Unauthenticated");
}

TEST(StatusTest, WithContextPrefixesErrorsOnly) {
  Status s = DataLossError("bad magic").WithContext("reading 'a.gz'");
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "reading 'a.gz': bad magic");
  EXPECT_TRUE(OkStatus().WithContext("ctx").ok());
  EXPECT_EQ(OkStatus().WithContext("ctx").message(), "");
}

TEST(StatusTest, Equality) {
  EXPECT_EQ(NotFoundError("a"), NotFoundError("a"));
  EXPECT_FALSE(NotFoundError("a") == NotFoundError("b"));
  EXPECT_FALSE(NotFoundError("a") == InternalError("a"));
}

StatusOr<int> Half(int x) {
  if (x % 2) return InvalidArgumentError(std::to_string(x) + " is odd");
  return x / 2;
}

StatusOr<int> Quarter(int x) {
  CONFML_ASSIGN_OR_RETURN(int h, Half(x));
  CONFML_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int x) {
  CONFML_RETURN_IF_ERROR(Half(x).status());
  return OkStatus();
}

TEST(StatusOrTest, HoldsValueOrError) {
  StatusOr<int> v = Half(8);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 4);
  EXPECT_EQ(v.value(), 4);
  EXPECT_TRUE(v.status().ok());

  StatusOr<int> e = Half(3);
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.status().message(), "3 is odd");
}

TEST(StatusOrTest, MacrosPropagate) {
  EXPECT_EQ(*Quarter(12), 3);
  Status s = Quarter(6).status();
  EXPECT_EQ(s.message(), "3 is odd");
  EXPECT_TRUE(CheckEven(2).ok());
  EXPECT_EQ(CheckEven(5).code(), StatusCode::kInvalidArgument);
}

TEST(StatusOrTest, MoveOnlyValues) {
  StatusOr<std::unique_ptr<int>> p = std::make_unique<int>(7);
  ASSERT_TRUE(p.ok());
  std::unique_ptr<int> owned = *std::move(p);
  EXPECT_EQ(*owned, 7);
  StatusOr<std::string> s = std::string("text");
  EXPECT_EQ(s->size(), 4u);
}

TEST(StatusOrDeathTest, ValueOfErrorAborts) {
  StatusOr<int> e = Half(1);
  EXPECT_DEATH((void)e.value(), "1 is odd");
  EXPECT_DEATH((void)StatusOr<int>(OkStatus()), "OK status");
}

}  // namespace
}  // namespace confml
