// The wire check in front of the control service (control/request_check.h), on bytes built with
// the generated classes and then damaged on purpose.
#include "control/request_check.h"

#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <gtest/gtest.h>

#include "tomstream/v1/control.pb.h"

namespace tomstream::control {
namespace {

namespace pb = tomstream::v1;

template <class Message>
Status Check(const std::string& bytes, RequestLimits limits = RequestLimits()) {
  google::protobuf::io::ArrayInputStream input(bytes.data(), static_cast<int>(bytes.size()),
                                               /*block_size=*/7);  // slices, as gRPC gives them
  return CheckRequestWire(input, *Message::descriptor(), limits);
}

pb::AddRouteRequest Route() {
  pb::AddRouteRequest req;
  req.mutable_route()->set_stream("hop");
  req.mutable_route()->set_pattern("hermes.*");
  req.mutable_route()->mutable_start()->mutable_time()->set_seconds(1'700'000'000);
  req.mutable_route()->add_matched_topics("hermes.a");
  return req;
}

TEST(RequestCheck, AcceptsWhatProtobufParses) {
  EXPECT_TRUE(Check<pb::AddRouteRequest>(Route().SerializeAsString()).ok());
  EXPECT_TRUE(Check<pb::AddRouteRequest>("").ok());  // all fields default
  pb::EnqueuePhotometryRequest req;
  req.add_messages()->add_targets()->set_name("Gaia \xe2\x98\x85 22a");  // UTF-8 beyond ASCII
  req.mutable_messages(0)->add_photometry()->set_brightness(18.5);
  EXPECT_TRUE(Check<pb::EnqueuePhotometryRequest>(req.SerializeAsString()).ok());
}

TEST(RequestCheck, NamesTheStringThatIsNotUtf8) {
  std::string bytes = Route().SerializeAsString();
  bytes[bytes.find("hermes.a") + 6] = '\x80';  // a lone continuation byte
  const Status st = Check<pb::AddRouteRequest>(bytes);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "route.matched_topics[0]: is not valid UTF-8");
}

TEST(RequestCheck, CountsEachRepeatedFieldPerMessage) {
  pb::EnqueuePhotometryRequest req;
  for (int m = 0; m < 3; ++m) {
    pb::PhotometryMessage* msg = req.add_messages();
    for (int i = 0; i < 3; ++i) msg->add_targets()->add_aliases("x");
  }
  const std::string bytes = req.SerializeAsString();
  EXPECT_TRUE(Check<pb::EnqueuePhotometryRequest>(bytes, {.max_repeated = 3}).ok());
  const Status st = Check<pb::EnqueuePhotometryRequest>(bytes, {.max_repeated = 2});
  EXPECT_EQ(st.message(), "messages[0].targets: has more than 2 elements");
}

TEST(RequestCheck, BoundsRepeatedElementsOfTheWholeRequest) {
  // 2 messages + 2 targets + 6 aliases = 10 repeated elements, none past 3 in one field.
  pb::EnqueuePhotometryRequest req;
  for (int m = 0; m < 2; ++m) {
    pb::Target* t = req.add_messages()->add_targets();
    for (int i = 0; i < 3; ++i) t->add_aliases("x");
  }
  const std::string bytes = req.SerializeAsString();
  EXPECT_TRUE(Check<pb::EnqueuePhotometryRequest>(bytes, {.max_repeated = 3, .max_total_repeated = 10}).ok());
  const Status st = Check<pb::EnqueuePhotometryRequest>(bytes, {.max_repeated = 3, .max_total_repeated = 9});
  EXPECT_EQ(st.message(),
            "messages[1].targets[0].aliases: makes more than 9 repeated elements in the request");
}

TEST(RequestCheck, BoundsNesting) {
  const std::string bytes = Route().SerializeAsString();  // route.start.time: depth 3
  EXPECT_TRUE(Check<pb::AddRouteRequest>(bytes, {.max_depth = 3}).ok());
  const Status st = Check<pb::AddRouteRequest>(bytes, {.max_depth = 2});
  EXPECT_EQ(st.message(), "route.start.time: is nested more than 2 deep");
}

TEST(RequestCheck, RefusesBrokenFramingAndSkipsUnknownFields) {
  const std::string bytes = Route().SerializeAsString();
  for (size_t cut = 1; cut < bytes.size(); ++cut) {
    // Every proper prefix ends inside the route message, so every one is refused.
    EXPECT_FALSE(Check<pb::AddRouteRequest>(bytes.substr(0, cut)).ok()) << cut;
  }
  // Field 99 as a varint, then as a length-delimited blob: unknown, skipped.
  EXPECT_TRUE(Check<pb::AddRouteRequest>(std::string("\x98\x06\x05\x9a\x06\x02hi", 8) + bytes).ok());
  // The route field as a varint: the wrong wire type for a message is skipped too (protobuf
  // keeps it as an unknown field).
  EXPECT_TRUE(Check<pb::AddRouteRequest>(std::string("\x08\x01", 2)).ok());
  EXPECT_EQ(Check<pb::AddRouteRequest>(std::string("\x0a\x05" "ab", 4)).message(),
            "route: is not well-formed protobuf");
  // route.start with a length of 2^32 - 1 (negative as an int), then bytes that would read as a
  // valid start up to the end of the route: refused, not taken for "no limit".
  const std::string huge_length("\x0a\x08\x3a\xff\xff\xff\xff\x0f\x08\x01", 10);
  EXPECT_EQ(Check<pb::AddRouteRequest>(huge_length).message(),
            "route.start: is not well-formed protobuf");
}

}  // namespace
}  // namespace tomstream::control
