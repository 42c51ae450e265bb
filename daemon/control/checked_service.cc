#include "control/checked_service.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>

#include <google/protobuf/io/zero_copy_stream.h>

namespace tomstream::control {
namespace {

// A protobuf input stream over the slices of a received grpc_byte_buffer, without copying them
// (grpc::ProtoBufferReader needs a grpc::ByteBuffer, which cannot borrow one).
class SliceInput final : public google::protobuf::io::ZeroCopyInputStream {
 public:
  explicit SliceInput(grpc_byte_buffer* buffer)
      : ok_(grpc_byte_buffer_reader_init(&reader_, buffer) != 0) {}
  ~SliceInput() override {
    if (!ok_) return;
    if (held_) grpc_slice_unref(slice_);
    grpc_byte_buffer_reader_destroy(&reader_);
  }
  SliceInput(const SliceInput&) = delete;
  SliceInput& operator=(const SliceInput&) = delete;

  bool ok() const { return ok_; }

  bool Next(const void** data, int* size) override {
    if (!ok_) return false;
    if (backed_up_ > 0) {
      *data = GRPC_SLICE_END_PTR(slice_) - backed_up_;
      *size = backed_up_;
      count_ += backed_up_;
      backed_up_ = 0;
      return true;
    }
    for (;;) {
      if (held_) grpc_slice_unref(slice_);
      held_ = grpc_byte_buffer_reader_next(&reader_, &slice_) != 0;
      if (!held_) return false;
      if (GRPC_SLICE_LENGTH(slice_) == 0) continue;
      *data = GRPC_SLICE_START_PTR(slice_);
      *size = static_cast<int>(GRPC_SLICE_LENGTH(slice_));
      count_ += *size;
      return true;
    }
  }
  void BackUp(int count) override {
    backed_up_ = count;
    count_ -= count;
  }
  bool Skip(int count) override {
    const void* data = nullptr;
    int size = 0;
    while (count > 0) {
      if (!Next(&data, &size)) return false;
      if (size > count) {
        BackUp(size - count);
        return true;
      }
      count -= size;
    }
    return true;
  }
  int64_t ByteCount() const override { return count_; }

 private:
  grpc_byte_buffer_reader reader_{};
  const bool ok_;
  grpc_slice slice_{};
  bool held_ = false;
  int backed_up_ = 0;
  int64_t count_ = 0;
};

}  // namespace

void* CheckingHandler::Deserialize(grpc_call* call, grpc_byte_buffer* request,
                                   grpc::Status* status, void** handler_data) {
  if (request != nullptr) {
    Status checked;
    {
      SliceInput input(request);
      checked = input.ok() ? CheckRequestWire(input, type_, limits_)
                           : Status::InvalidArgument("request: cannot be read");
    }
    if (!checked.ok()) {
      grpc_byte_buffer_destroy(request);  // the handler owns it, as gRPC's own do
      *status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, checked.message());
      return nullptr;
    }
  }
  void* parsed = inner_->Deserialize(call, request, status, handler_data);
  if (parsed == nullptr && status->error_code() == grpc::StatusCode::INTERNAL) {
    // What the check does not foresee (protobuf refuses little else): still the client's fault.
    *status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                           "request: is not a valid " + type_.full_name() + " message");
  }
  return parsed;
}

}  // namespace tomstream::control
