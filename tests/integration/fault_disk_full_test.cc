// The disk under the store fills up mid-ingest, then frees up again: the daemon says so, stops
// consuming, never commits a Kafka offset ahead of what it stored, and carries on by itself when
// there is room, with nothing lost and nothing stored twice.
//
// The disk is a small tmpfs mounted in a private mount namespace this test takes (root only;
// nothing outside this process and the daemon it starts sees the mount). A ballast file takes
// most of it; deleting the ballast is the space coming back.
#include <sched.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "daemon_under_test.h"

namespace tomstream::integration {
namespace {

using namespace std::chrono_literals;

// Kafka's committed offset of `group` on partition 0 of `topic` (-1 when none).
int64_t CommittedOffset(const KafkaEnv& env, const std::string& group, const std::string& topic) {
  test::KafkaConfPtr conf = test::make_kafka_conf(env, KafkaListener::kPlaintext);
  char err[256];
  rd_kafka_conf_set(conf.get(), "group.id", group.c_str(), err, sizeof err);
  test::KafkaPtr consumer = test::make_consumer(std::move(conf));
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(parts, topic.c_str(), 0);
  int64_t offset = -1;
  if (rd_kafka_committed(consumer.get(), parts, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    offset = parts->elems[0].offset;
  }
  rd_kafka_topic_partition_list_destroy(parts);
  rd_kafka_consumer_close(consumer.get());
  return offset;
}

TEST(FaultDiskFull, FullDiskPausesIngestAndItResumesByItselfWithNothingLost) {
  if (unshare(CLONE_NEWNS) != 0) {
    FAIL() << "cannot take a private mount namespace (" << std::strerror(errno)
           << "): this test needs root for its small filesystem";
  }
  ASSERT_EQ(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << std::strerror(errno);

  const auto env = KafkaEnv::from_environment();
  const std::string topic = test::unique_topic("diskfull");
  CreateTopics(env, {topic});
  StreamSpec s = PlaintextStream(env, "diskfull");
  s.routes = {RouteSpec{.topic = topic}};
  DaemonUnderTest d("it-full");
  const std::string disk = std::filesystem::path(d.store().path()).parent_path();
  std::filesystem::create_directories(disk);
  ASSERT_EQ(mount("tomstream-test", disk.c_str(), "tmpfs", 0, "size=40m,mode=0700"), 0)
      << std::strerror(errno);
  const std::string ballast = disk + "/ballast";
  {
    std::ofstream f(ballast, std::ios::binary);
    const std::string mib(1 << 20, 'b');
    for (int i = 0; i < 36; ++i) f << mib;
  }
  d.Configure({s}, "commit_max_messages = 50\n");
  ASSERT_TRUE(d.Start());
  const auto& store = d.store();

  // About 10 MB of messages (and as much again in the WAL at times): more than the 4 MB left.
  constexpr int kMessages = 10000;
  const std::string pad(900, 'x');
  TestProducer producer(env);
  for (int i = 0; i < kMessages; ++i) {
    producer.Produce(topic, HopJson("{\"seq\":" + std::to_string(i) + ",\"pad\":\"" + pad + "\"}",
                                    RandomId()));
  }
  ASSERT_TRUE(producer.Flush(120s));

  // Full: the stream says the store refused it, and stops moving.
  std::string error;
  json st;
  ASSERT_TRUE(WaitUntil([&] {
    auto j = d.StreamStatus(s.name, &error);
    if (!j) return false;
    st = *j;
    return st.value("state", "") == "STREAM_STATE_PAUSED";
  }, 120s, 200ms)) << st.dump(2) << error << "\n" << d.LogTail();
  EXPECT_NE(st.value("last_error", "").find("full"), std::string::npos) << st.dump(2);
  const int64_t stored_full = store.NextOffset(s.name, topic);
  std::cout << "disk full after " << stored_full << " of " << kMessages << " messages\n";
  EXPECT_LT(stored_full, kMessages);
  // Kafka's committed offset never runs ahead of the store (read first: the store may still
  // take a batch now and then, as checkpoints free pages).
  const int64_t committed = CommittedOffset(env, s.group_id, topic);
  EXPECT_LE(committed, store.NextOffset(s.name, topic));
  RunResult r = d.Tomctl({"status"});
  EXPECT_EQ(r.status, 0) << r.err;

  // Room again: it carries on by itself (the pause backs off to at most 30 s).
  std::filesystem::remove(ballast);
  ASSERT_TRUE(WaitUntil([&] { return store.NextOffset(s.name, topic) >= kMessages; }, 120s, 200ms))
      << store.NextOffset(s.name, topic) << " of " << kMessages << "; log tail:\n"
      << d.LogTail();
  EXPECT_TRUE(StoredExactly(store, s.name, topic, producer.PayloadsByOffset(topic)));
  EXPECT_EQ(store.StreamCounters(s.name).duplicates, 0);
  EXPECT_TRUE(WaitUntil([&] {
    auto j = d.StreamStatus(s.name);
    return j && j->value("state", "") == "STREAM_STATE_CONNECTED";
  }, 30s, 200ms));
  EXPECT_TRUE(d.Stop());
  // The daemon's files go before the mount does.
  std::filesystem::remove_all(disk + "/tomstream.db-wal");
  umount2(disk.c_str(), MNT_DETACH);
}

}  // namespace
}  // namespace tomstream::integration
