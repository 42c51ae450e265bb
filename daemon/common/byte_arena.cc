#include "common/byte_arena.h"

#include <cstring>

namespace tomstream {

std::string_view ByteArena::Copy(std::string_view bytes) {
  if (bytes.empty()) return std::string_view("", 0);  // never a null pointer
  if (bytes.size() > block_size_) {
    Block& b = large_.emplace_back(Block{std::make_unique<char[]>(bytes.size()), bytes.size()});
    capacity_ += b.size;
    std::memcpy(b.data.get(), bytes.data(), bytes.size());
    return {b.data.get(), bytes.size()};
  }
  if (blocks_.empty() || used_ + bytes.size() > blocks_[current_].size) {
    if (!blocks_.empty()) ++current_;
    if (current_ == blocks_.size()) {
      blocks_.push_back(Block{std::make_unique<char[]>(block_size_), block_size_});
      capacity_ += block_size_;
    }
    used_ = 0;
  }
  char* dst = blocks_[current_].data.get() + used_;
  std::memcpy(dst, bytes.data(), bytes.size());
  used_ += bytes.size();
  return {dst, bytes.size()};
}

void ByteArena::Clear() {
  for (const Block& b : large_) capacity_ -= b.size;
  large_.clear();
  current_ = 0;
  used_ = 0;
}

}  // namespace tomstream
