// Unit tests of common/byte_arena: copies stay put while the arena grows, Clear() reuses blocks.
#include "common/byte_arena.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace tomstream {
namespace {

TEST(ByteArenaTest, CopiesStayValidAcrossManyBlocks) {
  ByteArena arena(64);
  std::vector<std::string> originals;
  std::vector<std::string_view> copies;
  for (int i = 0; i < 200; ++i) {
    originals.push_back("message-" + std::to_string(i) + std::string(static_cast<size_t>(i % 50), 'x'));
    copies.push_back(arena.Copy(originals.back()));
  }
  for (size_t i = 0; i < originals.size(); ++i) {
    EXPECT_EQ(copies[i], originals[i]) << i;
    EXPECT_NE(copies[i].data(), originals[i].data());
  }
}

TEST(ByteArenaTest, OversizedCopiesGetTheirOwnBlockAndAreFreedByClear) {
  ByteArena arena(16);
  const std::string big(1000, 'b');
  std::string_view small = arena.Copy("small");
  std::string_view copy = arena.Copy(big);
  EXPECT_EQ(copy, big);
  EXPECT_EQ(small, "small");
  EXPECT_EQ(arena.capacity(), 16u + 1000u);
  arena.Clear();
  EXPECT_EQ(arena.capacity(), 16u);
}

TEST(ByteArenaTest, ClearReusesBlocksWithoutGrowing) {
  ByteArena arena(100);
  for (int i = 0; i < 10; ++i) arena.Copy(std::string(60, 'a'));
  const size_t grown = arena.capacity();
  EXPECT_EQ(grown, 1000u);  // one 60-byte copy per 100-byte block
  for (int round = 0; round < 3; ++round) {
    arena.Clear();
    for (int i = 0; i < 10; ++i) EXPECT_EQ(arena.Copy(std::string(60, 'c')), std::string(60, 'c'));
    EXPECT_EQ(arena.capacity(), grown);
  }
}

TEST(ByteArenaTest, EmptyCopyIsAnEmptyViewWithANonNullPointer) {
  ByteArena arena;
  std::string_view v = arena.Copy({});
  EXPECT_TRUE(v.empty());
  EXPECT_NE(v.data(), nullptr);  // SQLite binds NULL for a null pointer
}

}  // namespace
}  // namespace tomstream
