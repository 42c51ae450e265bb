// Requests a client should not send: strings that are not UTF-8, broken protobuf framing,
// repeated fields past the limit, requests past control.max_message_bytes, and huge values
// that error messages would echo. Each gets a clean gRPC error naming the field; the daemon
// keeps serving, logs no protobuf noise, stores nothing, and stays small.
//
// The requests are raw bytes, as a client in any language could send.
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/client_unary_call.h>

#include <fstream>

#include "daemon_fixture.h"
#include "tomstream/v1/control.grpc.pb.h"

namespace tomstream::testing {
namespace {

namespace pb = tomstream::v1;

struct Answer {
  grpc::StatusCode code;
  std::string message;
};

class ControlLimitsTest : public DaemonProcessTest {
 protected:
  void Connect() {
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(64 << 20);  // so that the daemon, not the client, enforces sizes
    channel_ = grpc::CreateCustomChannel("unix:" + socket_, grpc::InsecureChannelCredentials(),
                                         args);
    stub_ = pb::Control::NewStub(channel_);
  }

  // Sends `bytes` as the request of Control/`method` and returns the status. (The blocking
  // call the generated stubs make, with bytes for messages.)
  Answer Call(const std::string& method, const std::string& bytes) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::Slice slice(bytes.data(), bytes.size());
    const grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    const std::string path = "/tomstream.v1.Control/" + method;
    const grpc::Status st = grpc::internal::BlockingUnaryCall(
        channel_.get(), grpc::internal::RpcMethod(path.c_str(), grpc::internal::RpcMethod::NORMAL_RPC),
        &ctx, request, &response);
    return {st.error_code(), st.error_message()};
  }

  // The daemon still answers, and its outbox is empty.
  void ExpectServingAndNothingStored() {
    grpc::ClientContext ctx;
    pb::ListOutboxResponse out;
    const grpc::Status st = stub_->ListOutbox(&ctx, pb::ListOutboxRequest(), &out);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(out.entries_size(), 0);
    EXPECT_EQ(daemon_->Stderr().find("libprotobuf"), std::string::npos) << daemon_->Stderr();
  }

  // The daemon's peak resident set, in KiB.
  long PeakRssKib() {
    std::ifstream status("/proc/" + std::to_string(daemon_->pid()) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Control::Stub> stub_;
};

const char* kDestination =
    "[[destination]]\nname = \"hermes\"\nkind = \"hermes\"\n"
    "base_url = \"http://127.0.0.1:9/api\"\ntopics = [\"hermes.test\"]\napi_key = \"k\"\n";

pb::EnqueuePhotometryRequest OneMessage(const std::string& name) {
  pb::EnqueuePhotometryRequest req;
  req.set_validate_only(true);
  for (int i = 0; i < 2; ++i) {
    pb::PhotometryMessage* m = req.add_messages();
    m->set_destination("hermes");
    m->set_topic("hermes.test");
    m->set_title("limits");
    m->set_submitter("test");
    pb::Target* t = m->add_targets();
    t->set_name(i == 1 ? name : "AT2026ok");
    t->set_ra("10.5");
    t->set_dec("-20.25");
    pb::Photometry* p = m->add_photometry();
    p->set_target_name(t->name());
    p->set_date_obs_mjd(60000.5);
    p->set_telescope("T");
    p->set_bandpass("g");
    p->set_brightness(18.2);
  }
  return req;
}

// `bytes` with the first `from` replaced by `to`, of the same length so that framing holds.
std::string Replace(std::string bytes, const std::string& from, const std::string& to) {
  const size_t at = bytes.find(from);
  EXPECT_NE(at, std::string::npos);
  EXPECT_EQ(from.size(), to.size());
  return bytes.replace(at, from.size(), to);
}

TEST_F(ControlLimitsTest, StringsThatAreNotUtf8AreInvalidArgumentNamingTheField) {
  WriteConfig(kDestination);
  ASSERT_TRUE(StartDaemon());
  Connect();
  const std::string good = OneMessage("PLACEHOLDER").SerializeAsString();
  EXPECT_EQ(Call("EnqueuePhotometry", good).code, grpc::StatusCode::OK);

  const Answer a = Call("EnqueuePhotometry", Replace(good, "PLACEHOLDER", "PLACE\xff\xfeHOLD"));
  EXPECT_EQ(a.code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(a.message, "messages[1].targets[0].name: is not valid UTF-8");

  pb::AddRouteRequest route;
  route.mutable_route()->set_stream("none");
  route.mutable_route()->set_topic("PLACEHOLDER");
  const Answer b = Call("AddRoute", Replace(route.SerializeAsString(), "PLACEHOLDER",
                                            "overl\xc0\xaflong"));  // an overlong '/'
  EXPECT_EQ(b.code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(b.message, "route.topic: is not valid UTF-8");

  pb::SetLogLevelRequest level;
  level.set_level("PLACEHOLDER");
  const Answer c = Call("SetLogLevel", Replace(level.SerializeAsString(), "PLACEHOLDER",
                                               "\xed\xa0\x80surrogat"));
  EXPECT_EQ(c.code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(c.message, "level: is not valid UTF-8");
  ExpectServingAndNothingStored();
}

TEST_F(ControlLimitsTest, BrokenProtobufFramingIsInvalidArgument) {
  WriteConfig(kDestination);
  ASSERT_TRUE(StartDaemon());
  Connect();
  const std::string good = OneMessage("AT2026b").SerializeAsString();
  const Answer cut = Call("EnqueuePhotometry", good.substr(0, good.size() - 5));
  EXPECT_EQ(cut.code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(cut.message, "messages[1].photometry[0]: is not well-formed protobuf");
  // Field 1, length-delimited, claiming 1,000 bytes of which there are 3.
  const Answer past = Call("EnqueuePhotometry", std::string("\x0a\xe8\x07" "abc", 6));
  EXPECT_EQ(past.code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(past.message, "messages[0]: is not well-formed protobuf");
  // A tag of field number 0 is never valid.
  const Answer zero = Call("GetStatus", std::string("\x00\x01", 2));
  EXPECT_EQ(zero.code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(zero.message, "request: is not well-formed protobuf");
  // Unknown fields are skipped, as protobuf does: a newer client's extra field is no error.
  EXPECT_EQ(Call("GetVersion", std::string("\xf8\x07\x01", 3)).code, grpc::StatusCode::OK);
  ExpectServingAndNothingStored();
}

TEST_F(ControlLimitsTest, RepeatedFieldsPastTheLimitAreRefusedBeforeTheyAreParsed) {
  WriteConfig(kDestination);
  ASSERT_TRUE(StartDaemon());
  Connect();
  // 1,000,000 empty messages are 2 MB on the wire and would be hundreds of MB parsed.
  std::string empty_messages;
  for (int i = 0; i < 1'000'000; ++i) empty_messages.append("\x0a\x00", 2);
  const Answer a = Call("EnqueuePhotometry", empty_messages);
  EXPECT_EQ(a.code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(a.message, "messages: has more than 10000 elements");

  pb::EnqueuePhotometryRequest req = OneMessage("AT2026c");
  for (int i = 0; i < 10'001; ++i) req.mutable_messages(1)->mutable_targets(0)->add_aliases("a");
  const Answer b = Call("EnqueuePhotometry", req.SerializeAsString());
  EXPECT_EQ(b.code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(b.message, "messages[1].targets[0].aliases: has more than 10000 elements");

  // At the limit the request is parsed and validated: 10,000 empty messages have 40,000
  // problems, of which the answer lists 20.
  const Answer c = Call("EnqueuePhotometry", empty_messages.substr(0, 20'000));
  EXPECT_EQ(c.code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(c.message.rfind("invalid message (40000 problems): messages[0].destination: is "
                            "required; messages[0].title: is required;", 0), 0u) << c.message;
  EXPECT_NE(c.message.find("; ... and 39980 more"), std::string::npos) << c.message;
  EXPECT_LT(c.message.size(), 4096u);

  EXPECT_LT(PeakRssKib(), 200 * 1024) << "the daemon grew past 200 MiB";
  ExpectServingAndNothingStored();
}

TEST_F(ControlLimitsTest, RequestsPastMaxMessageBytesAreResourceExhausted) {
  WriteConfig(std::string("max_message_bytes = 65536\n") + kDestination);
  ASSERT_TRUE(StartDaemon());
  Connect();
  pb::EnqueuePhotometryRequest req = OneMessage("AT2026d");
  req.mutable_messages(0)->set_message_text(std::string(60'000, 'x'));
  EXPECT_EQ(Call("EnqueuePhotometry", req.SerializeAsString()).code, grpc::StatusCode::OK);
  req.mutable_messages(0)->set_message_text(std::string(70'000, 'x'));
  const Answer a = Call("EnqueuePhotometry", req.SerializeAsString());
  EXPECT_EQ(a.code, grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(a.message.find("vs. 65536"), std::string::npos) << a.message;
  ExpectServingAndNothingStored();
}

TEST_F(ControlLimitsTest, HugeValuesAreCutWhereErrorsEchoThem) {
  WriteConfig(kDestination);
  ASSERT_TRUE(StartDaemon());
  Connect();
  const std::string huge(3'000'000, 'u');
  const std::string cut = "\"" + std::string(64, 'u') + "...\"";
  pb::GetOutboxEntryRequest entry;
  entry.set_uuid(huge);
  const Answer a = Call("GetOutboxEntry", entry.SerializeAsString());
  EXPECT_EQ(a.code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(a.message, "uuid: " + cut + " is not a UUID");

  pb::ListAlertsRequest alerts;
  alerts.set_page_token(huge);
  const Answer b = Call("ListAlerts", alerts.SerializeAsString());
  EXPECT_EQ(b.code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(b.message, "page_token: not a token this server issued: " + cut);

  pb::EnqueuePhotometryRequest req = OneMessage("AT2026e");
  req.mutable_messages(1)->set_destination(huge);
  const Answer c = Call("EnqueuePhotometry", req.SerializeAsString());
  EXPECT_EQ(c.code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(c.message, "invalid message: messages[1].destination: no destination is named " + cut);
  ExpectServingAndNothingStored();
}

}  // namespace
}  // namespace tomstream::testing
