// Bytes copied into a few large blocks instead of one allocation each.
//
// Views returned by Copy() stay valid until Clear() or destruction. Clear() keeps the blocks,
// so an arena reused batch after batch stops allocating once it has grown to a batch's size.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

namespace tomstream {

class ByteArena {
 public:
  explicit ByteArena(size_t block_size = 256 * 1024) : block_size_(block_size) {}
  ByteArena(const ByteArena&) = delete;
  ByteArena& operator=(const ByteArena&) = delete;

  // A copy of `bytes` owned by the arena.
  std::string_view Copy(std::string_view bytes);
  // Forgets every copy; keeps the regular blocks (not the oversized ones) for reuse.
  void Clear();
  // Bytes held in blocks, used or not.
  size_t capacity() const { return capacity_; }

 private:
  struct Block {
    std::unique_ptr<char[]> data;
    size_t size = 0;
  };

  const size_t block_size_;
  std::vector<Block> blocks_;  // regular blocks; blocks_[current_] is being filled
  std::vector<Block> large_;   // one per copy bigger than a block, freed by Clear()
  size_t current_ = 0;
  size_t used_ = 0;            // bytes used in blocks_[current_]
  size_t capacity_ = 0;
};

}  // namespace tomstream
