// Unit tests of the outbox's storage and helpers: the UUIDv7 ids (outbox/uuid.h), the dedupe
// key and retry delay (outbox/outbox.h), the classification of Hermes answers
// (outbox/hermes_sink.h) and the OutboxStore on a real SQLite store (store/outbox.h).
#include "store/outbox.h"

#include <limits>
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "raw_db.h"

#include "common/clock.h"
#include "outbox/hermes_sink.h"
#include "outbox/outbox.h"
#include "outbox/uuid.h"
#include "store/store.h"

namespace tomstream::store {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using namespace std::chrono_literals;

// Every wait in these tests is bounded by this.
constexpr std::chrono::seconds kWait{20};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------


// 16 raw bytes 0x00, 0x01, ... 0x0f (with zero bytes, to prove blobs are not cut at a NUL).
std::string SequentialBytes() {
  std::string b(16, '\0');
  for (int i = 0; i < 16; ++i) b[i] = static_cast<char>(i);
  return b;
}

// The 48-bit millisecond timestamp at the front of a UUIDv7.
int64_t UuidMillis(const std::string& uuid) {
  int64_t ms = 0;
  for (int i = 0; i < 6; ++i) ms = (ms << 8) | static_cast<unsigned char>(uuid[i]);
  return ms;
}

std::string Hex(const std::string& bytes) { return outbox::UuidToString(bytes); }

NewOutboxEntry MakeEntry(std::string destination, std::string topic, std::string dedupe_key,
                         std::string body = "{\"data\": 1}") {
  NewOutboxEntry e;
  e.uuid = outbox::NewUuidV7();
  e.destination = std::move(destination);
  e.topic = std::move(topic);
  e.title = "title of " + e.topic;
  e.idempotency_key = "";
  e.dedupe_key = std::move(dedupe_key);
  e.body = std::move(body);
  return e;
}

struct EnqueueResult {
  Status status = Status::Internal("done never ran");
  std::vector<EnqueueOutcome> outcomes;
};

// ---------------------------------------------------------------------------------------------
// UUIDs
// ---------------------------------------------------------------------------------------------

TEST(UuidTest, NewUuidV7HasVersionVariantAndCurrentTimestamp) {
  for (int i = 0; i < 200; ++i) {
    const int64_t before = NowMillis();
    const std::string id = outbox::NewUuidV7();
    const int64_t after = NowMillis();
    ASSERT_EQ(id.size(), 16u);
    EXPECT_EQ(static_cast<unsigned char>(id[6]) & 0xf0, 0x70) << Hex(id);
    EXPECT_EQ(static_cast<unsigned char>(id[8]) & 0xc0, 0x80) << Hex(id);
    EXPECT_GE(UuidMillis(id), before) << Hex(id);
    EXPECT_LE(UuidMillis(id), after) << Hex(id);
    // The text form shows the version and variant where RFC 9562 puts them.
    const std::string text = outbox::UuidToString(id);
    ASSERT_EQ(text.size(), 36u);
    EXPECT_EQ(text[14], '7') << text;
    EXPECT_NE(std::string("89ab").find(text[19]), std::string::npos) << text;
  }
}

TEST(UuidTest, NewUuidV7ValuesAreDistinct) {
  std::set<std::string> seen;
  constexpr int kCount = 20000;
  for (int i = 0; i < kCount; ++i) seen.insert(outbox::NewUuidV7());
  EXPECT_EQ(seen.size(), static_cast<size_t>(kCount));
}

TEST(UuidTest, NewUuidV7IsDistinctAcrossThreads) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&ids, t] {
      for (int i = 0; i < kPerThread; ++i) ids[t].push_back(outbox::NewUuidV7());
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> seen;
  for (const auto& v : ids) seen.insert(v.begin(), v.end());
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST(UuidTest, IdsMadeInLaterMillisecondsCompareGreater) {
  std::string previous = outbox::NewUuidV7();
  for (int i = 0; i < 20; ++i) {
    // Wait (bounded) for the clock to pass the previous id's millisecond.
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (NowMillis() <= UuidMillis(previous)) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the clock never moved";
      std::this_thread::sleep_for(100us);
    }
    const std::string next = outbox::NewUuidV7();
    ASSERT_GT(UuidMillis(next), UuidMillis(previous));
    // Byte-wise (unsigned) comparison, as in the store's uuid index.
    EXPECT_GT(next, previous) << Hex(next) << " vs " << Hex(previous);
    EXPECT_LT(std::memcmp(previous.data(), next.data(), 16), 0);
    previous = next;
  }
}

TEST(UuidTest, ToStringFormatsLowerCaseWithDashes) {
  EXPECT_EQ(outbox::UuidToString(SequentialBytes()), "00010203-0405-0607-0809-0a0b0c0d0e0f");
  EXPECT_EQ(outbox::UuidToString(std::string(16, '\xff')),
            "ffffffff-ffff-ffff-ffff-ffffffffffff");
  EXPECT_EQ(outbox::UuidToString(""), "");
  EXPECT_EQ(outbox::UuidToString(std::string(15, 'a')), "");
  EXPECT_EQ(outbox::UuidToString(std::string(17, 'a')), "");
}

TEST(UuidTest, ParseRoundTripsAndAcceptsUpperCaseAndNoDashes) {
  for (int i = 0; i < 100; ++i) {
    const std::string id = outbox::NewUuidV7();
    auto parsed = outbox::ParseUuid(outbox::UuidToString(id));
    ASSERT_TRUE(parsed.has_value()) << Hex(id);
    EXPECT_EQ(*parsed, id);
  }
  const std::string expected = SequentialBytes();
  EXPECT_EQ(outbox::ParseUuid("00010203-0405-0607-0809-0a0b0c0d0e0f"), expected);
  EXPECT_EQ(outbox::ParseUuid("00010203-0405-0607-0809-0A0B0C0D0E0F"), expected);
  EXPECT_EQ(outbox::ParseUuid("000102030405060708090a0b0c0d0e0f"), expected);
  EXPECT_EQ(outbox::ParseUuid("000102030405060708090A0B0C0D0E0F"), expected);
  EXPECT_EQ(outbox::ParseUuid("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"), std::string(16, '\xff'));
  // The parsed bytes keep their zero bytes.
  auto zeros = outbox::ParseUuid("00000000-0000-0000-0000-000000000000");
  ASSERT_TRUE(zeros.has_value());
  EXPECT_EQ(*zeros, std::string(16, '\0'));
}

TEST(UuidTest, ParseRejectsMalformedText) {
  const std::vector<std::string> bad = {
      "",
      "0",
      "00010203-0405-0607-0809-0a0b0c0d0e0",    // 35
      "00010203-0405-0607-0809-0a0b0c0d0e0f0",  // 37
      "000102030405060708090a0b0c0d0e0",        // 31
      "000102030405060708090a0b0c0d0e0f0",      // 33
      "00010203-0405-0607-0809-0a0b0c0d0e0g",   // non-hex
      "000102030405060708090a0b0c0d0e0g",       // non-hex, no dashes
      "0001020x-0405-0607-0809-0a0b0c0d0e0f",
      "00010203-0405-0607-0809-0a0b0c0d0e f",
      "0001020-30405-0607-0809-0a0b0c0d0e0f",   // dash one early
      "000102030-405-0607-0809-0a0b0c0d0e0f",   // dash one late
      "00010203-04050-607-0809-0a0b0c0d0e0f",
      "00010203-0405-06070-809-0a0b0c0d0e0f",
      "00010203-0405-0607-08090-a0b0c0d0e0f",
      "00010203+0405+0607+0809+0a0b0c0d0e0f",   // other separators
      "000102030405060708090a0b0c0d0e0f0000",   // 36 hex digits, no dashes
      "0001-0203-0405-0607-0809-0a0b0c0d0e0f",  // an extra dash (37)
      "0001-020304050607-0809-0a0b0c0d0e0f",    // 36 with dashes in the wrong places
      "-00010203040506070809a0b0c0d0e0f",        // 32 with a dash
      "{00010203-0405-0607-0809-0a0b0c0d0e}",
      std::string("00010203-0405-0607-0809-0a0b0c0d0e\0f", 36),
  };
  for (const std::string& text : bad) {
    EXPECT_FALSE(outbox::ParseUuid(text).has_value()) << "accepted \"" << text << "\"";
  }
}

// ---------------------------------------------------------------------------------------------
// DedupeKey and RetryDelay
// ---------------------------------------------------------------------------------------------

TEST(DedupeKeyTest, IsSha256SizedAndDeterministic) {
  EXPECT_EQ(outbox::DedupeKey("key-1", "body").size(), 32u);
  EXPECT_EQ(outbox::DedupeKey("", "body").size(), 32u);
  EXPECT_EQ(outbox::DedupeKey("", "").size(), 32u);
  EXPECT_EQ(outbox::DedupeKey("key-1", "body"), outbox::DedupeKey("key-1", "body"));
  EXPECT_EQ(outbox::DedupeKey("", "body"), outbox::DedupeKey("", "body"));
}

TEST(DedupeKeyTest, KeyWinsOverBody) {
  // With a key the body does not matter.
  EXPECT_EQ(outbox::DedupeKey("key-1", "body A"), outbox::DedupeKey("key-1", "body B"));
  EXPECT_NE(outbox::DedupeKey("key-1", "body"), outbox::DedupeKey("key-2", "body"));
  // Without one it does.
  EXPECT_NE(outbox::DedupeKey("", "body A"), outbox::DedupeKey("", "body B"));
  EXPECT_NE(outbox::DedupeKey("key-1", "body"), outbox::DedupeKey("", "body"));
}

TEST(DedupeKeyTest, KeyAndBodyOfTheSameTextDiffer) {
  for (const std::string text : {"abc", "x", "{\"data\": 1}", "key\0abc"}) {
    EXPECT_NE(outbox::DedupeKey(text, "anything"), outbox::DedupeKey("", text)) << text;
  }
  // Bytes after a NUL count.
  EXPECT_NE(outbox::DedupeKey("", std::string("a\0b", 3)), outbox::DedupeKey("", std::string("a\0c", 3)));
}

TEST(RetryDelayTest, StartsAtInitialAndDoubles) {
  EXPECT_EQ(outbox::RetryDelay(1, 1000ms, 60000ms, 1.0), 1000ms);
  EXPECT_EQ(outbox::RetryDelay(2, 1000ms, 60000ms, 1.0), 2000ms);
  EXPECT_EQ(outbox::RetryDelay(3, 1000ms, 60000ms, 1.0), 4000ms);
  EXPECT_EQ(outbox::RetryDelay(4, 1000ms, 60000ms, 1.0), 8000ms);
  EXPECT_EQ(outbox::RetryDelay(6, 1000ms, 60000ms, 1.0), 32000ms);
  EXPECT_EQ(outbox::RetryDelay(1, 250ms, 60000ms, 1.0), 250ms);
  EXPECT_EQ(outbox::RetryDelay(3, 250ms, 60000ms, 1.0), 1000ms);
}

TEST(RetryDelayTest, IsCappedAtMax) {
  EXPECT_EQ(outbox::RetryDelay(7, 1000ms, 60000ms, 1.0), 60000ms);  // 64 s capped
  EXPECT_EQ(outbox::RetryDelay(8, 1000ms, 60000ms, 1.0), 60000ms);
  EXPECT_EQ(outbox::RetryDelay(1000, 1000ms, 60000ms, 1.0), 60000ms);
  EXPECT_EQ(outbox::RetryDelay(INT_MAX, 1000ms, 60000ms, 1.0), 60000ms);
  // An initial above the cap is capped too.
  EXPECT_EQ(outbox::RetryDelay(1, 90000ms, 60000ms, 1.0), 60000ms);
  // Exactly reaching the cap.
  EXPECT_EQ(outbox::RetryDelay(3, 15000ms, 60000ms, 1.0), 60000ms);
}

TEST(RetryDelayTest, JitterScalesTheDelay) {
  EXPECT_EQ(outbox::RetryDelay(1, 1000ms, 60000ms, 0.8), 800ms);
  EXPECT_EQ(outbox::RetryDelay(1, 1000ms, 60000ms, 1.2), 1200ms);
  EXPECT_EQ(outbox::RetryDelay(3, 1000ms, 60000ms, 0.8), 3200ms);
  EXPECT_EQ(outbox::RetryDelay(3, 1000ms, 60000ms, 1.2), 4800ms);
  EXPECT_EQ(outbox::RetryDelay(2, 1000ms, 60000ms, 0.5), 1000ms);
  // Jitter applies to the capped delay (documented: at most `max`, scaled by `jitter`).
  EXPECT_EQ(outbox::RetryDelay(20, 1000ms, 60000ms, 0.8), 48000ms);
  EXPECT_EQ(outbox::RetryDelay(20, 1000ms, 60000ms, 1.2), 72000ms);
}

// ---------------------------------------------------------------------------------------------
// ClassifyHermesAnswer
// ---------------------------------------------------------------------------------------------

using outbox::ClassifyHermesAnswer;
using outbox::SinkOutcome;

// Whether `s` is well-formed UTF-8 (what a proto3 string field must hold to be parsed).
bool IsValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    if (c < 0x80) n = 0;
    else if ((c & 0xe0) == 0xc0 && c >= 0xc2) n = 1;
    else if ((c & 0xf0) == 0xe0) n = 2;
    else if ((c & 0xf8) == 0xf0 && c <= 0xf4) n = 3;
    else return false;
    if (i + n >= s.size()) return false;  // the character runs past the end
    for (size_t k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

TEST(ClassifyHermesAnswerTest, OkWithUuidIsDelivered) {
  const std::string body =
      R"({"uuid": "5d6b1a1e-0000-4000-8000-000000000001", "message_text": "hi"})";
  SinkOutcome o = ClassifyHermesAnswer(42, 200, body);
  EXPECT_EQ(o.id, 42);
  EXPECT_EQ(o.kind, SinkOutcome::Kind::kDelivered);
  EXPECT_EQ(o.hermes_uuid, "5d6b1a1e-0000-4000-8000-000000000001");
  EXPECT_EQ(o.error, "");
}

TEST(ClassifyHermesAnswerTest, CreatedWithoutUuidIsDelivered) {
  SinkOutcome o = ClassifyHermesAnswer(7, 201, R"({"message": "ok"})");
  EXPECT_EQ(o.id, 7);
  EXPECT_EQ(o.kind, SinkOutcome::Kind::kDelivered);
  EXPECT_EQ(o.hermes_uuid, "");
  // A uuid that is not a string is not taken.
  SinkOutcome n = ClassifyHermesAnswer(7, 200, R"({"uuid": 12})");
  EXPECT_EQ(n.kind, SinkOutcome::Kind::kDelivered);
  EXPECT_EQ(n.hermes_uuid, "");
}

// A 2xx whose body is not a JSON object is not Hermes (a proxy's page, a wrong base_url): the
// message was not shared, so it is neither delivered nor retried blindly, but dead and shown.
TEST(ClassifyHermesAnswerTest, NonJsonOkIsPermanentNotDelivered) {
  for (const std::string body : {"<html>thanks</html>", "", "uuid", "[1, 2"}) {
    SinkOutcome o = ClassifyHermesAnswer(3, 200, body);
    EXPECT_EQ(o.kind, SinkOutcome::Kind::kPermanent) << body;
    EXPECT_EQ(o.response_body, body) << body;
    EXPECT_THAT(o.error, HasSubstr("not a Hermes answer")) << body;
  }
}

// The echo of a very large message is read only in part: a 2xx then counts as delivered (it
// must not be retried, which would share the message again).
TEST(ClassifyHermesAnswerTest, TruncatedOkIsDeliveredWithoutUuid) {
  SinkOutcome o = ClassifyHermesAnswer(4, 200, R"({"title": "a very long mess)", true);
  EXPECT_EQ(o.kind, SinkOutcome::Kind::kDelivered);
  EXPECT_EQ(o.hermes_uuid, "");
}

// Whatever bytes an error page holds, what is kept is valid UTF-8.
TEST(ClassifyHermesAnswerTest, KeptBodyIsMadeValidUtf8) {
  const std::string latin1 = "Erreur: acc\xe8s refus\xe9 \xff\xfe \xc3\xa9t\xc3\xa9";
  SinkOutcome o = ClassifyHermesAnswer(5, 403, latin1);
  EXPECT_EQ(o.kind, SinkOutcome::Kind::kPermanent);
  EXPECT_EQ(o.response_body, "Erreur: acc?s refus? ?? \xc3\xa9t\xc3\xa9");
}

TEST(ClassifyHermesAnswerTest, OkWithErrorIsPermanentAndKeepsTheBody) {
  const std::string body =
      R"({"error": "user has no SCiMMA credential", "uuid": "should-not-count"})";
  SinkOutcome o = ClassifyHermesAnswer(9, 200, body);
  EXPECT_EQ(o.id, 9);
  EXPECT_EQ(o.kind, SinkOutcome::Kind::kPermanent);
  EXPECT_EQ(o.response_body, body);
  EXPECT_THAT(o.error, HasSubstr("200"));
  EXPECT_THAT(o.error, HasSubstr("user has no SCiMMA credential"));
  EXPECT_EQ(o.hermes_uuid, "");
  // A non-string error value is shown as JSON.
  SinkOutcome obj = ClassifyHermesAnswer(9, 201, R"({"error": {"code": 17}})");
  EXPECT_EQ(obj.kind, SinkOutcome::Kind::kPermanent);
  EXPECT_THAT(obj.error, HasSubstr("17"));
}

TEST(ClassifyHermesAnswerTest, ClientErrorsArePermanentWithTheBody) {
  for (long status : {400L, 401L, 403L, 404L, 413L, 422L}) {
    const std::string body = R"({"detail": "no", "status": )" + std::to_string(status) + "}";
    SinkOutcome o = ClassifyHermesAnswer(11, status, body);
    EXPECT_EQ(o.id, 11);
    EXPECT_EQ(o.kind, SinkOutcome::Kind::kPermanent) << status;
    EXPECT_EQ(o.response_body, body) << status;
    EXPECT_THAT(o.error, HasSubstr(std::to_string(status)));
  }
  // A non-JSON 4xx body is kept as it is.
  SinkOutcome html = ClassifyHermesAnswer(11, 404, "<h1>Not Found</h1>");
  EXPECT_EQ(html.kind, SinkOutcome::Kind::kPermanent);
  EXPECT_EQ(html.response_body, "<h1>Not Found</h1>");
}

TEST(ClassifyHermesAnswerTest, TimeoutsThrottlingAndServerErrorsAreTransient) {
  for (long status : {408L, 429L, 500L, 502L, 503L, 504L}) {
    SinkOutcome o = ClassifyHermesAnswer(12, status, R"({"detail": "later"})");
    EXPECT_EQ(o.id, 12);
    EXPECT_EQ(o.kind, SinkOutcome::Kind::kTransient) << status;
    EXPECT_THAT(o.error, HasSubstr(std::to_string(status)));
    EXPECT_EQ(o.hermes_uuid, "");
  }
}

TEST(ClassifyHermesAnswerTest, HugeBodiesAreTruncated) {
  std::string huge(1 << 20, 'x');
  for (size_t i = 0; i < huge.size(); i += 97) huge[i] = static_cast<char>('a' + i % 26);
  SinkOutcome o = ClassifyHermesAnswer(13, 400, huge);
  EXPECT_EQ(o.kind, SinkOutcome::Kind::kPermanent);
  EXPECT_LT(o.response_body.size(), 64u * 1024);
  EXPECT_GE(o.response_body.size(), 1024u);
  // What is kept is the start of the body (with at most a short marker after it).
  std::string kept = o.response_body;
  if (kept.size() >= 3 && kept.compare(kept.size() - 3, 3, "...") == 0) kept.resize(kept.size() - 3);
  EXPECT_EQ(huge.compare(0, kept.size(), kept), 0);

  // The same for a 2xx answer with an error.
  const std::string error_body = R"({"error": "no", "pad": ")" + std::string(200000, 'p') + "\"}";
  SinkOutcome e = ClassifyHermesAnswer(13, 200, error_body);
  EXPECT_EQ(e.kind, SinkOutcome::Kind::kPermanent);
  EXPECT_LT(e.response_body.size(), 64u * 1024);
  EXPECT_THAT(e.response_body, StartsWith(R"({"error": "no", "pad": "ppp)"));
}

TEST(ClassifyHermesAnswerTest, TruncationKeepsTheBodyValidUtf8) {
  // The kept body goes into a proto3 string field, which a client cannot parse when it holds a
  // character cut in half. Multi-byte characters of every length, at every alignment.
  for (const std::string ch : {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"}) {
    for (size_t prefix = 0; prefix < 4; ++prefix) {
      std::string body = R"({"detail": ")" + std::string(prefix, 'x');
      while (body.size() < 100000) body += ch;
      body += "\"}";
      ASSERT_TRUE(IsValidUtf8(body));
      for (long status : {400L, 200L}) {
        const std::string answer =
            status == 200 ? R"({"error": "no", "pad": ")" + body.substr(12) : body;
        ASSERT_TRUE(IsValidUtf8(answer));
        SinkOutcome o = ClassifyHermesAnswer(1, status, answer);
        EXPECT_EQ(o.kind, SinkOutcome::Kind::kPermanent);
        EXPECT_LT(o.response_body.size(), answer.size());
        EXPECT_TRUE(IsValidUtf8(o.response_body))
            << "status " << status << ", character of " << ch.size() << " bytes, prefix "
            << prefix << ": the kept body ends in a cut character";
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// OutboxStore
// ---------------------------------------------------------------------------------------------

class OutboxStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = ::testing::TempDir() + "outbox_store_test_XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr) << templ;
    dir_ = templ;
    options_.path = dir_ + "/tomstream.db";
    options_.busy_timeout = std::chrono::milliseconds(2000);
    Open();
  }
  void TearDown() override {
    outbox_.reset();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void Open() {
    auto store = Store::Open(options_);
    ASSERT_TRUE(store.ok()) << "Store::Open: " << store.status().ToString();
    store_ = std::move(store).value();
    outbox_ = std::make_unique<OutboxStore>(*store_);
  }
  void Reopen() {
    outbox_.reset();
    store_.reset();
    Open();
  }

  // Enqueue() and wait (bounded) for `done`.
  EnqueueResult Enqueue(std::vector<NewOutboxEntry> entries) {
    auto promise = std::make_shared<std::promise<EnqueueResult>>();
    auto future = promise->get_future();
    Status st = outbox_->Enqueue(std::move(entries),
                                 [promise](const Status& s, std::vector<EnqueueOutcome> out) {
                                   promise->set_value({s, std::move(out)});
                                 });
    if (!st.ok()) return {st, {}};
    if (future.wait_for(kWait) != std::future_status::ready) {
      ADD_FAILURE() << "Enqueue's done never ran";
      return {Status::Internal("timeout"), {}};
    }
    return future.get();
  }
  // Enqueue() that must succeed; the outcomes.
  std::vector<EnqueueOutcome> MustEnqueue(std::vector<NewOutboxEntry> entries) {
    const size_t n = entries.size();
    EnqueueResult r = Enqueue(std::move(entries));
    EXPECT_TRUE(r.status.ok()) << r.status.ToString();
    EXPECT_EQ(r.outcomes.size(), n);
    return r.outcomes;
  }
  // Complete() and wait (bounded) for `done`.
  Status Complete(std::vector<OutboxResult> results) {
    auto promise = std::make_shared<std::promise<Status>>();
    auto future = promise->get_future();
    Status st = outbox_->Complete(std::move(results),
                                  [promise](const Status& s) { promise->set_value(s); });
    if (!st.ok()) return st;
    if (future.wait_for(kWait) != std::future_status::ready) {
      ADD_FAILURE() << "Complete's done never ran";
      return Status::Internal("timeout");
    }
    return future.get();
  }
  OutboxEntry MustGet(const std::string& uuid) {
    auto e = outbox_->Get(uuid);
    EXPECT_TRUE(e.ok()) << Hex(uuid) << ": " << (e.ok() ? "" : e.status().ToString());
    return e.ok() ? std::move(e).value() : OutboxEntry{};
  }
  std::vector<OutboxWork> MustClaim(const std::string& destination, int64_t now_ms, int limit) {
    auto w = outbox_->Claim(destination, now_ms, limit);
    EXPECT_TRUE(w.ok()) << (w.ok() ? "" : w.status().ToString());
    return w.ok() ? std::move(w).value() : std::vector<OutboxWork>{};
  }
  std::vector<OutboxEntry> MustList(const OutboxFilter& filter, int64_t before_id, int limit) {
    auto l = outbox_->List(filter, before_id, limit);
    EXPECT_TRUE(l.ok()) << (l.ok() ? "" : l.status().ToString());
    return l.ok() ? std::move(l).value() : std::vector<OutboxEntry>{};
  }
  OutboxCounts MustCounts() {
    auto c = outbox_->Counts();
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.status().ToString());
    return c.ok() ? *c : OutboxCounts{};
  }
  int64_t RowCount() {
    RawDb raw(options_.path);
    return raw.Int("SELECT count(*) FROM outbox");
  }
  // A time comfortably after every entry made so far is due.
  static int64_t Later() { return NowMillis() + 1000; }

  std::string dir_;
  StoreOptions options_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<OutboxStore> outbox_;
};

std::vector<int64_t> Ids(const std::vector<OutboxEntry>& entries) {
  std::vector<int64_t> ids;
  for (const auto& e : entries) ids.push_back(e.id);
  return ids;
}
std::vector<int64_t> Ids(const std::vector<OutboxWork>& work) {
  std::vector<int64_t> ids;
  for (const auto& w : work) ids.push_back(w.id);
  return ids;
}

TEST_F(OutboxStoreTest, StateNames) {
  EXPECT_STREQ(OutboxStateName(OutboxState::kPending), "pending");
  EXPECT_STREQ(OutboxStateName(OutboxState::kSending), "sending");
  EXPECT_STREQ(OutboxStateName(OutboxState::kDelivered), "delivered");
  EXPECT_STREQ(OutboxStateName(OutboxState::kDead), "dead");
  EXPECT_STREQ(OutboxStateName(OutboxState::kCancelled), "cancelled");
}

TEST_F(OutboxStoreTest, EnqueueStoresPendingEntriesAndReportsThemInOrder) {
  std::vector<NewOutboxEntry> entries = {MakeEntry("hermes", "tomtoolkit.photometry", "k1", "{\"a\": 1}"),
                                         MakeEntry("hermes", "tomtoolkit.photometry", "k2", "{\"a\": 2}"),
                                         MakeEntry("kafka", "other.topic", "k3", "{\"a\": 3}")};
  entries[1].idempotency_key = "client-key-2";
  entries[2].uuid = SequentialBytes();  // zero bytes inside
  const std::vector<NewOutboxEntry> copy = entries;
  const int64_t before = NowMillis();
  auto outcomes = MustEnqueue(entries);
  const int64_t after = NowMillis();
  ASSERT_EQ(outcomes.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(outcomes[i].uuid, copy[i].uuid) << i;
    EXPECT_FALSE(outcomes[i].duplicate) << i;
    EXPECT_EQ(outcomes[i].state, OutboxState::kPending) << i;

    OutboxEntry e = MustGet(copy[i].uuid);
    EXPECT_EQ(e.uuid, copy[i].uuid);
    EXPECT_EQ(e.destination, copy[i].destination);
    EXPECT_EQ(e.topic, copy[i].topic);
    EXPECT_EQ(e.title, copy[i].title);
    EXPECT_EQ(e.idempotency_key, copy[i].idempotency_key);
    EXPECT_EQ(e.body, copy[i].body);
    EXPECT_EQ(e.state, OutboxState::kPending);
    EXPECT_EQ(e.attempts, 0);
    EXPECT_EQ(e.last_error, "");
    EXPECT_EQ(e.delivered_at_ms, -1);
    EXPECT_EQ(e.hermes_uuid, "");
    EXPECT_EQ(e.response_body, "");
    EXPECT_GE(e.created_at_ms, before);
    EXPECT_LE(e.created_at_ms, after);
    EXPECT_EQ(e.updated_at_ms, e.created_at_ms);
    EXPECT_EQ(e.next_attempt_at_ms, e.created_at_ms) << "a new entry is due at once";
  }
  // Ids follow the order of the call.
  EXPECT_LT(MustGet(copy[0].uuid).id, MustGet(copy[1].uuid).id);
  EXPECT_LT(MustGet(copy[1].uuid).id, MustGet(copy[2].uuid).id);

  // Checked with plain SQLite: the uuid and dedupe key are stored as 16- and n-byte blobs.
  RawDb raw(options_.path);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM outbox"), 3);
  EXPECT_THAT(raw.Column("SELECT typeof(uuid) || ':' || length(uuid) FROM outbox ORDER BY id"),
            ElementsAre("blob:16", "blob:16", "blob:16"));
  EXPECT_THAT(raw.Column("SELECT hex(dedupe_key) FROM outbox ORDER BY id"),
            ElementsAre("6B31", "6B32", "6B33"));
  EXPECT_EQ(raw.Text("SELECT hex(uuid) FROM outbox ORDER BY id DESC LIMIT 1"),
            "000102030405060708090A0B0C0D0E0F");
}

TEST_F(OutboxStoreTest, EmptyEnqueueSucceedsWithNoOutcomes) {
  EnqueueResult r = Enqueue({});
  EXPECT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_THAT(r.outcomes, IsEmpty());
  EXPECT_EQ(RowCount(), 0);
}

TEST_F(OutboxStoreTest, RepeatedEnqueueNamesTheFirstEntryAndItsState) {
  NewOutboxEntry first = MakeEntry("hermes", "t", "same-key", "body one");
  auto o1 = MustEnqueue({first});
  ASSERT_EQ(o1.size(), 1u);
  ASSERT_FALSE(o1[0].duplicate);

  // Same destination, topic and dedupe key; another uuid, title and even body.
  NewOutboxEntry again = MakeEntry("hermes", "t", "same-key", "body two");
  again.title = "another title";
  auto o2 = MustEnqueue({again});
  ASSERT_EQ(o2.size(), 1u);
  EXPECT_TRUE(o2[0].duplicate);
  EXPECT_EQ(o2[0].uuid, first.uuid);
  EXPECT_NE(o2[0].uuid, again.uuid);
  EXPECT_EQ(o2[0].state, OutboxState::kPending);
  EXPECT_EQ(RowCount(), 1);
  EXPECT_EQ(outbox_->Get(again.uuid).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(MustGet(first.uuid).body, "body one");

  // The outcome reports the stored entry's current state.
  auto claimed = MustClaim("hermes", Later(), 10);
  ASSERT_EQ(claimed.size(), 1u);
  auto o3 = MustEnqueue({MakeEntry("hermes", "t", "same-key")});
  ASSERT_EQ(o3.size(), 1u);
  EXPECT_TRUE(o3[0].duplicate);
  EXPECT_EQ(o3[0].uuid, first.uuid);
  EXPECT_EQ(o3[0].state, OutboxState::kSending);

  OutboxResult delivered;
  delivered.id = claimed[0].id;
  delivered.kind = OutboxResult::Kind::kDelivered;
  ASSERT_TRUE(Complete({delivered}).ok());
  auto o4 = MustEnqueue({MakeEntry("hermes", "t", "same-key")});
  ASSERT_EQ(o4.size(), 1u);
  EXPECT_TRUE(o4[0].duplicate);
  EXPECT_EQ(o4[0].uuid, first.uuid);
  EXPECT_EQ(o4[0].state, OutboxState::kDelivered);
  EXPECT_EQ(RowCount(), 1);
  // The repeat did not touch the stored entry.
  OutboxEntry e = MustGet(first.uuid);
  EXPECT_EQ(e.state, OutboxState::kDelivered);
  EXPECT_EQ(e.title, "title of t");
  EXPECT_EQ(e.attempts, 1);
}

TEST_F(OutboxStoreTest, SameDedupeKeyForAnotherTopicOrDestinationIsANewEntry) {
  auto base = MakeEntry("hermes", "topic-a", "shared");
  auto other_topic = MakeEntry("hermes", "topic-b", "shared");
  auto other_destination = MakeEntry("kafka", "topic-a", "shared");
  auto other_key = MakeEntry("hermes", "topic-a", std::string("shared\0x", 8));
  auto outcomes = MustEnqueue({base, other_topic, other_destination, other_key});
  ASSERT_EQ(outcomes.size(), 4u);
  EXPECT_EQ(outcomes[0].uuid, base.uuid);
  EXPECT_EQ(outcomes[1].uuid, other_topic.uuid);
  EXPECT_EQ(outcomes[2].uuid, other_destination.uuid);
  EXPECT_EQ(outcomes[3].uuid, other_key.uuid);
  for (const auto& o : outcomes) EXPECT_FALSE(o.duplicate);
  EXPECT_EQ(RowCount(), 4);

  // Each of them is now found by its own (destination, topic, key).
  auto repeats = MustEnqueue({MakeEntry("kafka", "topic-a", "shared"),
                              MakeEntry("hermes", "topic-b", "shared"),
                              MakeEntry("hermes", "topic-a", std::string("shared\0x", 8)),
                              MakeEntry("hermes", "topic-a", "shared")});
  ASSERT_EQ(repeats.size(), 4u);
  EXPECT_EQ(repeats[0].uuid, other_destination.uuid);
  EXPECT_EQ(repeats[1].uuid, other_topic.uuid);
  EXPECT_EQ(repeats[2].uuid, other_key.uuid);
  EXPECT_EQ(repeats[3].uuid, base.uuid);
  for (const auto& o : repeats) EXPECT_TRUE(o.duplicate);
  EXPECT_EQ(RowCount(), 4);
}

TEST_F(OutboxStoreTest, DuplicatesInsideOneEnqueueCall) {
  auto a = MakeEntry("hermes", "t", "key-a", "first a");
  auto b = MakeEntry("hermes", "t", "key-b");
  auto a_again = MakeEntry("hermes", "t", "key-a", "second a");
  auto a_elsewhere = MakeEntry("kafka", "t", "key-a");
  auto a_third = MakeEntry("hermes", "t", "key-a");
  auto outcomes = MustEnqueue({a, b, a_again, a_elsewhere, a_third});
  ASSERT_EQ(outcomes.size(), 5u);
  EXPECT_EQ(outcomes[0].uuid, a.uuid);
  EXPECT_FALSE(outcomes[0].duplicate);
  EXPECT_EQ(outcomes[1].uuid, b.uuid);
  EXPECT_FALSE(outcomes[1].duplicate);
  EXPECT_EQ(outcomes[2].uuid, a.uuid);
  EXPECT_TRUE(outcomes[2].duplicate);
  EXPECT_EQ(outcomes[2].state, OutboxState::kPending);
  EXPECT_EQ(outcomes[3].uuid, a_elsewhere.uuid);
  EXPECT_FALSE(outcomes[3].duplicate);
  EXPECT_EQ(outcomes[4].uuid, a.uuid);
  EXPECT_TRUE(outcomes[4].duplicate);
  EXPECT_EQ(RowCount(), 3);
  EXPECT_EQ(MustGet(a.uuid).body, "first a");
  EXPECT_EQ(outbox_->Get(a_again.uuid).status().code(), StatusCode::kNotFound);
}

TEST_F(OutboxStoreTest, FailedEnqueueStoresNoneOfItsEntriesAndKeepsEarlierOnes) {
  auto earlier = MakeEntry("hermes", "t", "earlier", "earlier body");
  ASSERT_EQ(MustEnqueue({earlier}).size(), 1u);

  // The same uuid twice with different dedupe keys: the second insert breaks the unique uuid.
  auto ok1 = MakeEntry("hermes", "t", "new-1");
  auto ok2 = MakeEntry("hermes", "t", "new-2");
  ok2.uuid = ok1.uuid;
  auto ok3 = MakeEntry("hermes", "t", "new-3");
  EnqueueResult r = Enqueue({ok1, ok3, ok2});
  EXPECT_FALSE(r.status.ok());
  EXPECT_THAT(r.outcomes, IsEmpty());
  EXPECT_EQ(RowCount(), 1);
  EXPECT_EQ(outbox_->Get(ok1.uuid).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(outbox_->Get(ok3.uuid).status().code(), StatusCode::kNotFound);

  // A uuid equal to a stored entry's fails the same way.
  auto fresh = MakeEntry("hermes", "t", "new-4");
  auto clash = MakeEntry("kafka", "t", "new-5");
  clash.uuid = earlier.uuid;
  EnqueueResult r2 = Enqueue({fresh, clash});
  EXPECT_FALSE(r2.status.ok());
  EXPECT_THAT(r2.outcomes, IsEmpty());
  EXPECT_EQ(RowCount(), 1);
  EXPECT_EQ(outbox_->Get(fresh.uuid).status().code(), StatusCode::kNotFound);

  // The earlier entry is intact.
  OutboxEntry e = MustGet(earlier.uuid);
  EXPECT_EQ(e.destination, "hermes");
  EXPECT_EQ(e.body, "earlier body");
  EXPECT_EQ(e.state, OutboxState::kPending);

  // The outbox keeps working, and the failed call's dedupe keys were not taken.
  auto retry = MustEnqueue({ok1, ok3, fresh});
  ASSERT_EQ(retry.size(), 3u);
  for (const auto& o : retry) EXPECT_FALSE(o.duplicate);
  EXPECT_EQ(RowCount(), 4);
  auto dup = MustEnqueue({MakeEntry("hermes", "t", "earlier")});
  ASSERT_EQ(dup.size(), 1u);
  EXPECT_TRUE(dup[0].duplicate);
  EXPECT_EQ(dup[0].uuid, earlier.uuid);
}

TEST_F(OutboxStoreTest, FailedEnqueueInAGroupCommitLeavesTheOthersCommitted) {
  // Hold the writer so that the next jobs are committed together in one transaction.
  auto started = std::make_shared<std::promise<void>>();
  auto release = std::make_shared<std::promise<void>>();
  auto released = release->get_future().share();
  struct ReleaseOnExit {
    std::shared_ptr<std::promise<void>> p;
    ~ReleaseOnExit() {
      try {
        p->set_value();
      } catch (const std::future_error&) {
      }
    }
  } release_on_exit{release};
  // Everything the writer's jobs touch is shared, so a failing test leaves no dangling refs.
  auto blocker_done = std::make_shared<std::atomic<bool>>(false);
  ASSERT_TRUE(store_
                  ->Submit(
                      [started, released](Connection&) -> Status {
                        started->set_value();
                        return released.wait_for(kWait) == std::future_status::ready
                                   ? Status::Ok()
                                   : Status::Internal("test gate never opened");
                      },
                      [blocker_done](const Status&) { *blocker_done = true; })
                  .ok());
  ASSERT_EQ(started->get_future().wait_for(kWait), std::future_status::ready);

  auto before = MakeEntry("hermes", "t", "before");
  auto bad1 = MakeEntry("hermes", "t", "bad-1");
  auto bad2 = MakeEntry("hermes", "t", "bad-2");
  bad2.uuid = bad1.uuid;
  auto after = MakeEntry("hermes", "t", "after");
  std::vector<std::future<EnqueueResult>> futures;
  auto submit = [&](std::vector<NewOutboxEntry> entries) {
    auto p = std::make_shared<std::promise<EnqueueResult>>();
    futures.push_back(p->get_future());
    return outbox_->Enqueue(std::move(entries),
                            [p](const Status& st, std::vector<EnqueueOutcome> out) {
                              p->set_value({st, std::move(out)});
                            });
  };
  ASSERT_TRUE(submit({before}).ok());
  ASSERT_TRUE(submit({bad1, bad2}).ok());
  ASSERT_TRUE(submit({after}).ok());
  release->set_value();
  for (auto& f : futures) ASSERT_EQ(f.wait_for(kWait), std::future_status::ready);
  EnqueueResult r0 = futures[0].get();
  EnqueueResult r1 = futures[1].get();
  EnqueueResult r2 = futures[2].get();
  EXPECT_TRUE(r0.status.ok()) << r0.status.ToString();
  ASSERT_EQ(r0.outcomes.size(), 1u);
  EXPECT_EQ(r0.outcomes[0].uuid, before.uuid);
  EXPECT_FALSE(r1.status.ok());
  EXPECT_THAT(r1.outcomes, IsEmpty());
  EXPECT_TRUE(r2.status.ok()) << r2.status.ToString();
  ASSERT_EQ(r2.outcomes.size(), 1u);
  EXPECT_EQ(r2.outcomes[0].uuid, after.uuid);
  EXPECT_TRUE(*blocker_done);

  EXPECT_EQ(RowCount(), 2);
  EXPECT_EQ(MustGet(before.uuid).state, OutboxState::kPending);
  EXPECT_EQ(MustGet(after.uuid).state, OutboxState::kPending);
  EXPECT_EQ(outbox_->Get(bad1.uuid).status().code(), StatusCode::kNotFound);
}

TEST_F(OutboxStoreTest, ClaimTakesDueEntriesLongestDueFirst) {
  // Five entries of "hermes" and one of "kafka".
  std::vector<NewOutboxEntry> entries;
  for (int i = 0; i < 5; ++i) entries.push_back(MakeEntry("hermes", "t", "k" + std::to_string(i)));
  entries.push_back(MakeEntry("kafka", "t", "kafka-key"));
  MustEnqueue(entries);
  std::vector<int64_t> ids;
  for (const auto& e : entries) ids.push_back(MustGet(e.uuid).id);

  // Due times out of id order, one not yet due at 5000, and a tie broken by id.
  {
    RawDb raw(options_.path);
    const int64_t due[] = {3000, 1000, 2000, 9000, 2000, 100};
    for (size_t i = 0; i < entries.size(); ++i) {
      raw.Exec("UPDATE outbox SET next_attempt_at = " + std::to_string(due[i]) +
               " WHERE id = " + std::to_string(ids[i]));
    }
  }

  auto first = MustClaim("hermes", 5000, 2);
  EXPECT_EQ(Ids(first), (std::vector<int64_t>{ids[1], ids[2]}));
  for (const auto& w : first) {
    EXPECT_EQ(w.attempts, 1);
    EXPECT_EQ(w.destination, "hermes");
  }
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].uuid, entries[1].uuid);
  EXPECT_EQ(first[0].topic, "t");
  EXPECT_EQ(first[0].title, entries[1].title);
  EXPECT_EQ(first[0].body, entries[1].body);

  auto second = MustClaim("hermes", 5000, 10);
  EXPECT_EQ(Ids(second), (std::vector<int64_t>{ids[4], ids[0]}));
  // Nothing else is due: the 9000 entry waits, the sending ones are not claimed again.
  EXPECT_THAT(MustClaim("hermes", 5000, 10), IsEmpty());

  // States: sending with one attempt, updated at the claim time; the others untouched.
  for (int i : {0, 1, 2, 4}) {
    OutboxEntry e = MustGet(entries[i].uuid);
    EXPECT_EQ(e.state, OutboxState::kSending) << i;
    EXPECT_EQ(e.attempts, 1) << i;
    EXPECT_EQ(e.updated_at_ms, 5000) << i;
  }
  OutboxEntry waiting = MustGet(entries[3].uuid);
  EXPECT_EQ(waiting.state, OutboxState::kPending);
  EXPECT_EQ(waiting.attempts, 0);
  EXPECT_EQ(waiting.next_attempt_at_ms, 9000);
  OutboxEntry other = MustGet(entries[5].uuid);
  EXPECT_EQ(other.state, OutboxState::kPending) << "another destination's entry was claimed";
  EXPECT_EQ(other.attempts, 0);

  // Due at exactly its time.
  auto at_due = MustClaim("hermes", 9000, 10);
  EXPECT_EQ(Ids(at_due), (std::vector<int64_t>{ids[3]}));
  auto kafka = MustClaim("kafka", 5000, 10);
  EXPECT_EQ(Ids(kafka), (std::vector<int64_t>{ids[5]}));
  EXPECT_THAT(MustClaim("nowhere", Later(), 10), IsEmpty());
}

TEST_F(OutboxStoreTest, ClaimSkipsEntriesNotYetDue) {
  const int64_t before = NowMillis();
  auto e = MakeEntry("hermes", "t", "k");
  MustEnqueue({e});
  // Before its creation it is not due.
  EXPECT_THAT(MustClaim("hermes", before - 1, 10), IsEmpty());
  EXPECT_EQ(MustGet(e.uuid).state, OutboxState::kPending);
  EXPECT_EQ(MustGet(e.uuid).attempts, 0);
  auto w = MustClaim("hermes", Later(), 10);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].uuid, e.uuid);
}

// A probe of a failing destination takes the earliest pending entry whatever its backoff; once
// the destination answers, Hasten makes every waiting entry of it due.
TEST_F(OutboxStoreTest, ProbeClaimIgnoresBackoffAndHastenMakesWaitingEntriesDue) {
  std::vector<NewOutboxEntry> entries = {MakeEntry("hermes", "t", "a"), MakeEntry("hermes", "t", "b"),
                                         MakeEntry("kafka", "t", "c")};
  MustEnqueue(entries);
  {
    RawDb raw(options_.path);
    raw.Exec("UPDATE outbox SET next_attempt_at = 90000 WHERE dedupe_key = CAST('a' AS BLOB)");
    raw.Exec("UPDATE outbox SET next_attempt_at = 60000 WHERE dedupe_key = CAST('b' AS BLOB)");
    raw.Exec("UPDATE outbox SET next_attempt_at = 70000 WHERE dedupe_key = CAST('c' AS BLOB)");
  }
  EXPECT_THAT(MustClaim("hermes", 1000, 1), IsEmpty());  // nothing due at 1000
  auto probe = outbox_->Claim("hermes", 1000, 1, std::numeric_limits<int64_t>::max());
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  ASSERT_EQ(probe->size(), 1u);
  EXPECT_EQ((*probe)[0].uuid, entries[1].uuid) << "not the earliest pending entry";

  auto hastened = outbox_->Hasten("hermes", 2000);
  ASSERT_TRUE(hastened.ok()) << hastened.status().ToString();
  EXPECT_EQ(*hastened, 1);  // "a"; "b" is sending, "c" belongs to another destination
  auto hermes_due = outbox_->NextDue("hermes");
  auto kafka_due = outbox_->NextDue("kafka");
  ASSERT_TRUE(hermes_due.ok() && kafka_due.ok());
  EXPECT_EQ(*hermes_due, std::optional<int64_t>(2000));
  EXPECT_EQ(*kafka_due, std::optional<int64_t>(70000));
  ASSERT_EQ(MustClaim("hermes", 2000, 5).size(), 1u);
  // Nothing waits any more: a second call changes nothing.
  auto again = outbox_->Hasten("hermes", 3000);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
}

TEST_F(OutboxStoreTest, ClaimCountsEveryAttempt) {
  auto e = MakeEntry("hermes", "t", "k");
  MustEnqueue({e});
  int64_t now = Later();
  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto w = MustClaim("hermes", now, 10);
    ASSERT_EQ(w.size(), 1u) << attempt;
    EXPECT_EQ(w[0].attempts, attempt);
    OutboxResult r;
    r.id = w[0].id;
    r.kind = OutboxResult::Kind::kRetry;
    r.error = "try " + std::to_string(attempt);
    r.retry_at_ms = now + 100;
    ASSERT_TRUE(Complete({r}).ok());
    EXPECT_THAT(MustClaim("hermes", now + 99, 10), IsEmpty()) << "claimed before its retry time";
    now += 100;
  }
  OutboxEntry got = MustGet(e.uuid);
  EXPECT_EQ(got.attempts, 3);
  EXPECT_EQ(got.last_error, "try 3");
}

TEST_F(OutboxStoreTest, CompleteRecordsDeliveredRetryAndDead) {
  auto d = MakeEntry("hermes", "t", "delivered");
  auto r = MakeEntry("hermes", "t", "retry");
  auto x = MakeEntry("hermes", "t", "dead");
  MustEnqueue({d, r, x});
  auto work = MustClaim("hermes", Later(), 10);
  ASSERT_EQ(work.size(), 3u);
  const int64_t d_id = MustGet(d.uuid).id;
  const int64_t r_id = MustGet(r.uuid).id;
  const int64_t x_id = MustGet(x.uuid).id;

  std::vector<OutboxResult> results(3);
  results[0].id = d_id;
  results[0].kind = OutboxResult::Kind::kDelivered;
  results[0].hermes_uuid = "hermes-uuid-1";
  results[1].id = r_id;
  results[1].kind = OutboxResult::Kind::kRetry;
  results[1].error = "HTTP 503";
  results[1].retry_at_ms = 4242;
  results[2].id = x_id;
  results[2].kind = OutboxResult::Kind::kDead;
  results[2].error = "HTTP 400";
  results[2].response_body = R"({"detail": "bad"})";
  const int64_t before = NowMillis();
  Status st = Complete(results);
  const int64_t after = NowMillis();
  ASSERT_TRUE(st.ok()) << st.ToString();

  OutboxEntry de = MustGet(d.uuid);
  EXPECT_EQ(de.state, OutboxState::kDelivered);
  EXPECT_GE(de.delivered_at_ms, before);
  EXPECT_LE(de.delivered_at_ms, after);
  EXPECT_EQ(de.updated_at_ms, de.delivered_at_ms);
  EXPECT_EQ(de.hermes_uuid, "hermes-uuid-1");
  EXPECT_EQ(de.last_error, "");
  EXPECT_EQ(de.attempts, 1);

  OutboxEntry re = MustGet(r.uuid);
  EXPECT_EQ(re.state, OutboxState::kPending);
  EXPECT_EQ(re.next_attempt_at_ms, 4242);
  EXPECT_EQ(re.last_error, "HTTP 503");
  EXPECT_EQ(re.delivered_at_ms, -1);
  EXPECT_EQ(re.hermes_uuid, "");
  EXPECT_GE(re.updated_at_ms, before);
  EXPECT_LE(re.updated_at_ms, after);

  OutboxEntry xe = MustGet(x.uuid);
  EXPECT_EQ(xe.state, OutboxState::kDead);
  EXPECT_EQ(xe.last_error, "HTTP 400");
  EXPECT_EQ(xe.response_body, R"({"detail": "bad"})");
  EXPECT_EQ(xe.delivered_at_ms, -1);
  EXPECT_GE(xe.updated_at_ms, before);
  EXPECT_LE(xe.updated_at_ms, after);

  // A retried entry that is then delivered loses its last error.
  auto again = MustClaim("hermes", 4242, 10);
  ASSERT_EQ(Ids(again), (std::vector<int64_t>{r_id}));
  EXPECT_EQ(again[0].attempts, 2);
  OutboxResult ok;
  ok.id = r_id;
  ok.kind = OutboxResult::Kind::kDelivered;
  ASSERT_TRUE(Complete({ok}).ok());
  OutboxEntry re2 = MustGet(r.uuid);
  EXPECT_EQ(re2.state, OutboxState::kDelivered);
  EXPECT_EQ(re2.last_error, "");
  EXPECT_EQ(re2.hermes_uuid, "");
  EXPECT_GE(re2.delivered_at_ms, before);

  // Without a done callback it still records.
  auto y = MakeEntry("hermes", "t", "no-done");
  MustEnqueue({y});
  auto yw = MustClaim("hermes", Later(), 10);
  ASSERT_EQ(yw.size(), 1u);
  OutboxResult yr;
  yr.id = yw[0].id;
  yr.kind = OutboxResult::Kind::kDead;
  yr.error = "gone";
  ASSERT_TRUE(outbox_->Complete({yr}, nullptr).ok());
  // A later write on the same writer thread proves the earlier one committed.
  ASSERT_TRUE(store_->Write([](Connection&) { return Status::Ok(); }).ok());
  EXPECT_EQ(MustGet(y.uuid).state, OutboxState::kDead);
}

TEST_F(OutboxStoreTest, CompleteIgnoresEntriesNotSending) {
  auto pending = MakeEntry("hermes", "t", "pending");
  auto delivered = MakeEntry("hermes", "t", "delivered");
  auto dead = MakeEntry("hermes", "t", "dead");
  MustEnqueue({delivered, dead});
  auto work = MustClaim("hermes", Later(), 10);
  ASSERT_EQ(work.size(), 2u);
  OutboxResult d{work[0].id, OutboxResult::Kind::kDelivered, "", "h-1", "", 0};
  OutboxResult x{work[1].id, OutboxResult::Kind::kDead, "err", "", "body", 0};
  ASSERT_TRUE(Complete({d, x}).ok());
  MustEnqueue({pending});
  const OutboxEntry p0 = MustGet(pending.uuid);
  const OutboxEntry d0 = MustGet(delivered.uuid);
  const OutboxEntry x0 = MustGet(dead.uuid);

  // Every kind of outcome for every non-sending entry, and for an id that does not exist.
  std::vector<OutboxResult> late;
  for (int64_t id : {p0.id, d0.id, x0.id, int64_t{999999}}) {
    late.push_back({id, OutboxResult::Kind::kDelivered, "", "late-uuid", "", 0});
    late.push_back({id, OutboxResult::Kind::kRetry, "late retry", "", "", 77});
    late.push_back({id, OutboxResult::Kind::kDead, "late dead", "", "late body", 0});
  }
  Status st = Complete(late);
  EXPECT_TRUE(st.ok()) << st.ToString();

  auto same = [](const OutboxEntry& a, const OutboxEntry& b) {
    EXPECT_EQ(a.state, b.state);
    EXPECT_EQ(a.attempts, b.attempts);
    EXPECT_EQ(a.last_error, b.last_error);
    EXPECT_EQ(a.updated_at_ms, b.updated_at_ms);
    EXPECT_EQ(a.next_attempt_at_ms, b.next_attempt_at_ms);
    EXPECT_EQ(a.delivered_at_ms, b.delivered_at_ms);
    EXPECT_EQ(a.hermes_uuid, b.hermes_uuid);
    EXPECT_EQ(a.response_body, b.response_body);
  };
  {
    SCOPED_TRACE("pending");
    same(MustGet(pending.uuid), p0);
  }
  {
    SCOPED_TRACE("delivered");
    same(MustGet(delivered.uuid), d0);
  }
  {
    SCOPED_TRACE("dead");
    same(MustGet(dead.uuid), x0);
  }
  EXPECT_EQ(d0.state, OutboxState::kDelivered);
  EXPECT_EQ(d0.hermes_uuid, "h-1");
  EXPECT_EQ(x0.state, OutboxState::kDead);
  EXPECT_EQ(RowCount(), 3);
}

TEST_F(OutboxStoreTest, RecoverSendingPutsSendingEntriesBack) {
  std::vector<NewOutboxEntry> entries;
  for (int i = 0; i < 6; ++i) entries.push_back(MakeEntry("hermes", "t", "k" + std::to_string(i)));
  MustEnqueue(entries);
  // 0, 1, 2, 3 claimed; 2 then delivered, 3 dead; 4 cancelled; 5 stays pending.
  auto work = MustClaim("hermes", Later(), 4);
  ASSERT_EQ(work.size(), 4u);
  ASSERT_TRUE(Complete({{work[2].id, OutboxResult::Kind::kDelivered, "", "h", "", 0},
                        {work[3].id, OutboxResult::Kind::kDead, "bad", "", "body", 0}})
                  .ok());
  ASSERT_TRUE(outbox_->Cancel(entries[4].uuid, Later()).ok());
  const OutboxEntry pending_before = MustGet(entries[5].uuid);

  const int64_t now = Later() + 5000;
  auto n = outbox_->RecoverSending(now);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 2);
  for (int i : {0, 1}) {
    OutboxEntry e = MustGet(entries[i].uuid);
    EXPECT_EQ(e.state, OutboxState::kPending) << i;
    EXPECT_EQ(e.next_attempt_at_ms, now) << i;
    EXPECT_EQ(e.updated_at_ms, now) << i;
    EXPECT_EQ(e.attempts, 1) << i << ": the interrupted attempt still counts";
  }
  EXPECT_EQ(MustGet(entries[2].uuid).state, OutboxState::kDelivered);
  EXPECT_EQ(MustGet(entries[3].uuid).state, OutboxState::kDead);
  EXPECT_EQ(MustGet(entries[4].uuid).state, OutboxState::kCancelled);
  const OutboxEntry pending_after = MustGet(entries[5].uuid);
  EXPECT_EQ(pending_after.state, OutboxState::kPending);
  EXPECT_EQ(pending_after.next_attempt_at_ms, pending_before.next_attempt_at_ms);
  EXPECT_EQ(pending_after.updated_at_ms, pending_before.updated_at_ms);

  // Nothing left to recover.
  auto again = outbox_->RecoverSending(now);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
  // The recovered entries are claimed again with the same uuid.
  auto reclaimed = MustClaim("hermes", now, 10);
  ASSERT_EQ(reclaimed.size(), 3u);
  std::set<std::string> uuids;
  for (const auto& w : reclaimed) uuids.insert(w.uuid);
  EXPECT_EQ(uuids, (std::set<std::string>{entries[0].uuid, entries[1].uuid, entries[5].uuid}));
}

TEST_F(OutboxStoreTest, NextDueIsTheEarliestPendingAttemptOfTheDestination) {
  auto none = outbox_->NextDue("hermes");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());

  std::vector<NewOutboxEntry> entries = {MakeEntry("hermes", "t", "a"), MakeEntry("hermes", "t", "b"),
                                         MakeEntry("hermes", "t", "c"), MakeEntry("kafka", "t", "d")};
  MustEnqueue(entries);
  {
    RawDb raw(options_.path);
    raw.Exec("UPDATE outbox SET next_attempt_at = 7000 WHERE dedupe_key = CAST('a' AS BLOB)");
    raw.Exec("UPDATE outbox SET next_attempt_at = 3000 WHERE dedupe_key = CAST('b' AS BLOB)");
    raw.Exec("UPDATE outbox SET next_attempt_at = 5000 WHERE dedupe_key = CAST('c' AS BLOB)");
    raw.Exec("UPDATE outbox SET next_attempt_at = 1000 WHERE dedupe_key = CAST('d' AS BLOB)");
  }
  auto next = outbox_->NextDue("hermes");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, std::optional<int64_t>(3000));
  auto kafka = outbox_->NextDue("kafka");
  ASSERT_TRUE(kafka.ok());
  EXPECT_EQ(*kafka, std::optional<int64_t>(1000));
  auto unknown = outbox_->NextDue("unknown");
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(unknown->has_value());

  // Only pending entries count: claiming the 3000 one moves it to 5000; cancelling that, 7000.
  ASSERT_EQ(MustClaim("hermes", 3000, 1).size(), 1u);
  auto after_claim = outbox_->NextDue("hermes");
  ASSERT_TRUE(after_claim.ok());
  EXPECT_EQ(*after_claim, std::optional<int64_t>(5000));
  ASSERT_TRUE(outbox_->Cancel(entries[2].uuid, 6000).ok());
  auto after_cancel = outbox_->NextDue("hermes");
  ASSERT_TRUE(after_cancel.ok());
  EXPECT_EQ(*after_cancel, std::optional<int64_t>(7000));
  ASSERT_EQ(MustClaim("hermes", 7000, 5).size(), 1u);
  auto empty = outbox_->NextDue("hermes");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->has_value());
}

TEST_F(OutboxStoreTest, ListFiltersNewestFirstAndPages) {
  // ids 1..8 in this order.
  std::vector<NewOutboxEntry> entries = {
      MakeEntry("hermes", "alpha", "0"), MakeEntry("hermes", "beta", "1"),
      MakeEntry("kafka", "alpha", "2"),  MakeEntry("hermes", "alpha", "3"),
      MakeEntry("kafka", "beta", "4"),   MakeEntry("hermes", "alpha", "5"),
      MakeEntry("hermes", "beta", "6"),  MakeEntry("kafka", "alpha", "7")};
  MustEnqueue(entries);
  std::vector<int64_t> id;
  for (const auto& e : entries) id.push_back(MustGet(e.uuid).id);
  for (size_t i = 1; i < id.size(); ++i) ASSERT_GT(id[i], id[i - 1]);
  // 1 cancelled; 3 and 5 claimed (sending), then 5 delivered.
  ASSERT_TRUE(outbox_->Cancel(entries[1].uuid, Later()).ok());
  {
    RawDb raw(options_.path);
    raw.Exec("UPDATE outbox SET next_attempt_at = 0 WHERE id IN (" + std::to_string(id[3]) + ", " +
             std::to_string(id[5]) + ")");
  }
  auto work = MustClaim("hermes", 1, 10);
  ASSERT_EQ(Ids(work), (std::vector<int64_t>{id[3], id[5]}));
  ASSERT_TRUE(Complete({{id[5], OutboxResult::Kind::kDelivered, "", "h", "", 0}}).ok());

  auto all = MustList({}, 0, 100);
  EXPECT_EQ(Ids(all), (std::vector<int64_t>{id[7], id[6], id[5], id[4], id[3], id[2], id[1], id[0]}));
  ASSERT_EQ(all.size(), 8u);
  // List does not return bodies, but every other field.
  EXPECT_EQ(all[0].body, "");
  EXPECT_EQ(all[0].uuid, entries[7].uuid);
  EXPECT_EQ(all[0].destination, "kafka");
  EXPECT_EQ(all[0].topic, "alpha");
  EXPECT_EQ(all[0].title, entries[7].title);
  EXPECT_EQ(all[2].state, OutboxState::kDelivered);
  EXPECT_EQ(all[2].hermes_uuid, "h");
  EXPECT_EQ(all[2].attempts, 1);

  OutboxFilter pending;
  pending.state = OutboxState::kPending;
  EXPECT_EQ(Ids(MustList(pending, 0, 100)),
            (std::vector<int64_t>{id[7], id[6], id[4], id[2], id[0]}));
  OutboxFilter sending;
  sending.state = OutboxState::kSending;
  EXPECT_EQ(Ids(MustList(sending, 0, 100)), (std::vector<int64_t>{id[3]}));
  OutboxFilter cancelled;
  cancelled.state = OutboxState::kCancelled;
  EXPECT_EQ(Ids(MustList(cancelled, 0, 100)), (std::vector<int64_t>{id[1]}));
  OutboxFilter dead;
  dead.state = OutboxState::kDead;
  EXPECT_THAT(MustList(dead, 0, 100), IsEmpty());

  OutboxFilter hermes;
  hermes.destination = "hermes";
  EXPECT_EQ(Ids(MustList(hermes, 0, 100)),
            (std::vector<int64_t>{id[6], id[5], id[3], id[1], id[0]}));
  OutboxFilter beta;
  beta.topic = "beta";
  EXPECT_EQ(Ids(MustList(beta, 0, 100)), (std::vector<int64_t>{id[6], id[4], id[1]}));
  OutboxFilter kafka_alpha;
  kafka_alpha.destination = "kafka";
  kafka_alpha.topic = "alpha";
  EXPECT_EQ(Ids(MustList(kafka_alpha, 0, 100)), (std::vector<int64_t>{id[7], id[2]}));
  OutboxFilter pending_hermes_alpha;
  pending_hermes_alpha.state = OutboxState::kPending;
  pending_hermes_alpha.destination = "hermes";
  pending_hermes_alpha.topic = "alpha";
  EXPECT_EQ(Ids(MustList(pending_hermes_alpha, 0, 100)), (std::vector<int64_t>{id[0]}));
  OutboxFilter nowhere;
  nowhere.destination = "nowhere";
  EXPECT_THAT(MustList(nowhere, 0, 100), IsEmpty());

  // Paging: limit, then before_id = the last id seen.
  auto page1 = MustList({}, 0, 3);
  EXPECT_EQ(Ids(page1), (std::vector<int64_t>{id[7], id[6], id[5]}));
  auto page2 = MustList({}, page1.back().id, 3);
  EXPECT_EQ(Ids(page2), (std::vector<int64_t>{id[4], id[3], id[2]}));
  auto page3 = MustList({}, page2.back().id, 3);
  EXPECT_EQ(Ids(page3), (std::vector<int64_t>{id[1], id[0]}));
  EXPECT_THAT(MustList({}, page3.back().id, 3), IsEmpty());
  // Paging with a filter.
  auto hp1 = MustList(hermes, 0, 2);
  EXPECT_EQ(Ids(hp1), (std::vector<int64_t>{id[6], id[5]}));
  auto hp2 = MustList(hermes, hp1.back().id, 2);
  EXPECT_EQ(Ids(hp2), (std::vector<int64_t>{id[3], id[1]}));
  auto pp = MustList(pending, id[6], 2);
  EXPECT_EQ(Ids(pp), (std::vector<int64_t>{id[4], id[2]}));
  // before_id is exclusive.
  EXPECT_EQ(Ids(MustList({}, id[1], 10)), (std::vector<int64_t>{id[0]}));
}

TEST_F(OutboxStoreTest, GetReturnsTheBodyAndNotFoundForUnknownUuids) {
  auto e = MakeEntry("hermes", "t", "k", R"({"photometry": [{"brightness": 17.5}]})");
  e.idempotency_key = "idem";
  MustEnqueue({e});
  OutboxEntry got = MustGet(e.uuid);
  EXPECT_EQ(got.body, R"({"photometry": [{"brightness": 17.5}]})");
  EXPECT_EQ(got.idempotency_key, "idem");
  EXPECT_EQ(got.uuid, e.uuid);

  auto unknown = outbox_->Get(outbox::NewUuidV7());
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  // A prefix of a stored uuid is not it.
  auto prefix = outbox_->Get(e.uuid.substr(0, 8));
  ASSERT_FALSE(prefix.ok());
  EXPECT_EQ(prefix.status().code(), StatusCode::kNotFound);
  auto empty = outbox_->Get("");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kNotFound);
  // The text form is not the key either.
  auto text = outbox_->Get(outbox::UuidToString(e.uuid));
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), StatusCode::kNotFound);
}

TEST_F(OutboxStoreTest, RetryMakesDeadAndCancelledEntriesPendingAndDue) {
  auto dead = MakeEntry("hermes", "t", "dead");
  auto cancelled = MakeEntry("hermes", "t", "cancelled");
  MustEnqueue({dead, cancelled});
  ASSERT_TRUE(outbox_->Cancel(cancelled.uuid, Later()).ok());
  auto work = MustClaim("hermes", Later(), 10);
  ASSERT_EQ(work.size(), 1u);
  ASSERT_EQ(work[0].uuid, dead.uuid);
  ASSERT_TRUE(
      Complete({{work[0].id, OutboxResult::Kind::kDead, "HTTP 400", "", "no", 0}}).ok());
  ASSERT_EQ(MustGet(dead.uuid).state, OutboxState::kDead);

  const int64_t now = Later() + 10000;
  auto r1 = outbox_->Retry(dead.uuid, now);
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  EXPECT_EQ(r1->uuid, dead.uuid);
  EXPECT_EQ(r1->state, OutboxState::kPending);
  EXPECT_EQ(r1->next_attempt_at_ms, now);
  EXPECT_EQ(r1->updated_at_ms, now);
  // Its attempts are counted afresh; the last error and answer stay until the next attempt.
  EXPECT_EQ(r1->attempts, 0);
  EXPECT_EQ(r1->last_error, "HTTP 400");
  EXPECT_EQ(r1->response_body, "no");
  OutboxEntry stored = MustGet(dead.uuid);
  EXPECT_EQ(stored.state, OutboxState::kPending);
  EXPECT_EQ(stored.next_attempt_at_ms, now);
  EXPECT_EQ(stored.updated_at_ms, now);
  EXPECT_EQ(stored.attempts, 0);
  EXPECT_EQ(stored.last_error, "HTTP 400");
  EXPECT_EQ(stored.response_body, "no");

  auto r2 = outbox_->Retry(cancelled.uuid, now);
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(r2->state, OutboxState::kPending);
  EXPECT_EQ(r2->next_attempt_at_ms, now);
  EXPECT_EQ(MustGet(cancelled.uuid).state, OutboxState::kPending);

  // Both are due at `now` and not before.
  EXPECT_THAT(MustClaim("hermes", now - 1, 10), IsEmpty());
  auto again = MustClaim("hermes", now, 10);
  ASSERT_EQ(again.size(), 2u);
  for (const auto& w : again) EXPECT_EQ(w.attempts, 1) << Hex(w.uuid);
  EXPECT_EQ(MustGet(dead.uuid).attempts, 1);
}

TEST_F(OutboxStoreTest, RetryRefusesPendingSendingAndDeliveredEntries) {
  auto pending = MakeEntry("hermes", "t", "pending");
  auto sending = MakeEntry("hermes", "t", "sending");
  auto delivered = MakeEntry("hermes", "t", "delivered");
  MustEnqueue({sending, delivered});
  auto work = MustClaim("hermes", Later(), 10);
  ASSERT_EQ(work.size(), 2u);
  const int64_t delivered_id = MustGet(delivered.uuid).id;
  ASSERT_TRUE(Complete({{delivered_id, OutboxResult::Kind::kDelivered, "", "h", "", 0}}).ok());
  MustEnqueue({pending});

  for (const auto& [entry, state] :
       std::vector<std::pair<NewOutboxEntry, OutboxState>>{{pending, OutboxState::kPending},
                                                           {sending, OutboxState::kSending},
                                                           {delivered, OutboxState::kDelivered}}) {
    const OutboxEntry before = MustGet(entry.uuid);
    ASSERT_EQ(before.state, state);
    auto r = outbox_->Retry(entry.uuid, Later() + 99999);
    ASSERT_FALSE(r.ok()) << OutboxStateName(state);
    EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status().ToString();
    EXPECT_THAT(r.status().message(), HasSubstr(OutboxStateName(state)));
    const OutboxEntry after = MustGet(entry.uuid);
    EXPECT_EQ(after.state, state);
    EXPECT_EQ(after.updated_at_ms, before.updated_at_ms);
    EXPECT_EQ(after.next_attempt_at_ms, before.next_attempt_at_ms);
  }
  auto unknown = outbox_->Retry(outbox::NewUuidV7(), Later());
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
}

TEST_F(OutboxStoreTest, CancelOnlyPendingEntries) {
  auto pending = MakeEntry("hermes", "t", "pending");
  auto sending = MakeEntry("hermes", "t", "sending");
  auto delivered = MakeEntry("hermes", "t", "delivered");
  auto dead = MakeEntry("hermes", "t", "dead");
  MustEnqueue({sending, delivered, dead});
  auto work = MustClaim("hermes", Later(), 10);
  ASSERT_EQ(work.size(), 3u);
  ASSERT_TRUE(Complete({{MustGet(delivered.uuid).id, OutboxResult::Kind::kDelivered, "", "h", "", 0},
                        {MustGet(dead.uuid).id, OutboxResult::Kind::kDead, "e", "", "b", 0}})
                  .ok());
  MustEnqueue({pending});
  const OutboxEntry p0 = MustGet(pending.uuid);

  const int64_t now = Later() + 777;
  auto c = outbox_->Cancel(pending.uuid, now);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->state, OutboxState::kCancelled);
  EXPECT_EQ(c->updated_at_ms, now);
  EXPECT_EQ(c->uuid, pending.uuid);
  OutboxEntry stored = MustGet(pending.uuid);
  EXPECT_EQ(stored.state, OutboxState::kCancelled);
  EXPECT_EQ(stored.updated_at_ms, now);
  EXPECT_EQ(stored.next_attempt_at_ms, p0.next_attempt_at_ms);
  // A cancelled entry is never claimed.
  EXPECT_THAT(MustClaim("hermes", now + 100000, 10), IsEmpty());

  for (const auto& [entry, state] : std::vector<std::pair<NewOutboxEntry, OutboxState>>{
           {pending, OutboxState::kCancelled},
           {sending, OutboxState::kSending},
           {delivered, OutboxState::kDelivered},
           {dead, OutboxState::kDead}}) {
    const OutboxEntry before = MustGet(entry.uuid);
    auto r = outbox_->Cancel(entry.uuid, now + 1);
    ASSERT_FALSE(r.ok()) << OutboxStateName(state);
    EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status().ToString();
    EXPECT_THAT(r.status().message(), HasSubstr(OutboxStateName(state)));
    const OutboxEntry after = MustGet(entry.uuid);
    EXPECT_EQ(after.state, state);
    EXPECT_EQ(after.updated_at_ms, before.updated_at_ms);
  }
  auto unknown = outbox_->Cancel(outbox::NewUuidV7(), now);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
}

TEST_F(OutboxStoreTest, CountsPerStateAndOldestPending) {
  OutboxCounts empty = MustCounts();
  EXPECT_EQ(empty.pending, 0);
  EXPECT_EQ(empty.sending, 0);
  EXPECT_EQ(empty.delivered, 0);
  EXPECT_EQ(empty.dead, 0);
  EXPECT_EQ(empty.cancelled, 0);
  EXPECT_EQ(empty.oldest_pending_created_ms, -1);

  std::vector<NewOutboxEntry> entries;
  for (int i = 0; i < 9; ++i) entries.push_back(MakeEntry(i < 7 ? "hermes" : "kafka", "t", "k" + std::to_string(i)));
  MustEnqueue(entries);
  std::vector<int64_t> id;
  for (const auto& e : entries) id.push_back(MustGet(e.uuid).id);
  {
    // Creation times increasing with the id, known to the test; all due at 0.
    RawDb raw(options_.path);
    for (size_t i = 0; i < id.size(); ++i) {
      raw.Exec("UPDATE outbox SET next_attempt_at = 0, created_at = " +
               std::to_string(100000 + 1000 * i) + " WHERE id = " + std::to_string(id[i]));
    }
  }
  // 0 cancelled, 1 and 2 delivered, 3 dead, 4 sending; 5, 6 (hermes) and 7, 8 (kafka) pending.
  ASSERT_TRUE(outbox_->Cancel(entries[0].uuid, 1).ok());
  auto work = MustClaim("hermes", 1, 4);
  ASSERT_EQ(Ids(work), (std::vector<int64_t>{id[1], id[2], id[3], id[4]}));
  ASSERT_TRUE(Complete({{id[1], OutboxResult::Kind::kDelivered, "", "", "", 0},
                        {id[2], OutboxResult::Kind::kDelivered, "", "", "", 0},
                        {id[3], OutboxResult::Kind::kDead, "x", "", "", 0}})
                  .ok());

  OutboxCounts c = MustCounts();
  EXPECT_EQ(c.pending, 4);
  EXPECT_EQ(c.sending, 1);
  EXPECT_EQ(c.delivered, 2);
  EXPECT_EQ(c.dead, 1);
  EXPECT_EQ(c.cancelled, 1);
  EXPECT_EQ(c.oldest_pending_created_ms, 100000 + 1000 * 5);

  // Retrying the cancelled first entry makes it the oldest pending again.
  ASSERT_TRUE(outbox_->Retry(entries[0].uuid, 2).ok());
  c = MustCounts();
  EXPECT_EQ(c.pending, 5);
  EXPECT_EQ(c.cancelled, 0);
  EXPECT_EQ(c.oldest_pending_created_ms, 100000);

  // Nothing pending: -1 again.
  ASSERT_EQ(MustClaim("hermes", Later(), 100).size(), 3u);
  ASSERT_EQ(MustClaim("kafka", Later(), 100).size(), 2u);
  c = MustCounts();
  EXPECT_EQ(c.pending, 0);
  EXPECT_EQ(c.sending, 6);
  EXPECT_EQ(c.oldest_pending_created_ms, -1);
}

TEST_F(OutboxStoreTest, EntriesSurviveReopeningTheStore) {
  auto delivered = MakeEntry("hermes", "t", "delivered", "body d");
  auto sending = MakeEntry("hermes", "t", "sending", "body s");
  auto pending = MakeEntry("kafka", "t2", "pending", "body p");
  pending.idempotency_key = "idem-p";
  MustEnqueue({delivered, sending});
  auto work = MustClaim("hermes", Later(), 10);
  ASSERT_EQ(work.size(), 2u);
  ASSERT_TRUE(
      Complete({{MustGet(delivered.uuid).id, OutboxResult::Kind::kDelivered, "", "h-1", "", 0}})
          .ok());
  MustEnqueue({pending});
  const OutboxEntry d0 = MustGet(delivered.uuid);
  const OutboxEntry s0 = MustGet(sending.uuid);
  const OutboxEntry p0 = MustGet(pending.uuid);

  Reopen();
  ASSERT_NE(outbox_, nullptr);

  auto check = [this](const OutboxEntry& before) {
    OutboxEntry after = MustGet(before.uuid);
    EXPECT_EQ(after.id, before.id);
    EXPECT_EQ(after.destination, before.destination);
    EXPECT_EQ(after.topic, before.topic);
    EXPECT_EQ(after.title, before.title);
    EXPECT_EQ(after.body, before.body);
    EXPECT_EQ(after.idempotency_key, before.idempotency_key);
    EXPECT_EQ(after.state, before.state);
    EXPECT_EQ(after.attempts, before.attempts);
    EXPECT_EQ(after.created_at_ms, before.created_at_ms);
    EXPECT_EQ(after.delivered_at_ms, before.delivered_at_ms);
    EXPECT_EQ(after.hermes_uuid, before.hermes_uuid);
  };
  check(d0);
  check(s0);
  check(p0);
  EXPECT_EQ(MustGet(delivered.uuid).state, OutboxState::kDelivered);
  EXPECT_EQ(MustGet(sending.uuid).state, OutboxState::kSending);
  EXPECT_EQ(MustGet(pending.uuid).body, "body p");

  // Repeat detection works across the restart.
  auto dup = MustEnqueue({MakeEntry("hermes", "t", "delivered")});
  ASSERT_EQ(dup.size(), 1u);
  EXPECT_TRUE(dup[0].duplicate);
  EXPECT_EQ(dup[0].uuid, delivered.uuid);
  EXPECT_EQ(dup[0].state, OutboxState::kDelivered);

  // The entry left sending by the "crash" is recovered and sent again with its uuid.
  auto n = outbox_->RecoverSending(Later());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  auto again = MustClaim("hermes", Later() + 1000, 10);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].uuid, sending.uuid);
  EXPECT_EQ(again[0].body, "body s");
  EXPECT_EQ(again[0].attempts, 2);
  OutboxCounts c = MustCounts();
  EXPECT_EQ(c.delivered, 1);
  EXPECT_EQ(c.sending, 1);
  EXPECT_EQ(c.pending, 1);
}

}  // namespace
}  // namespace tomstream::store
