#include "control/request_check.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <climits>
#include <string>
#include <vector>

#include "common/text.h"

namespace tomstream::control {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::internal::WireFormatLite;

class Scanner {
 public:
  Scanner(google::protobuf::io::ZeroCopyInputStream& input, const RequestLimits& limits)
      : in_(&input), limits_(limits) {}

  Status Run(const Descriptor& type) {
    if (!Message(type, 0)) return Status::InvalidArgument(error_);
    return Status::Ok();
  }

 private:
  // One step of the path to the field being read; the text is built only for an error.
  struct Step {
    const FieldDescriptor* field;
    int index;  // -1 for a singular field
  };

  // Reads fields up to the current limit (or the end). False with error_ set on a problem.
  bool Message(const Descriptor& type, int depth) {
    if (depth > limits_.max_depth) {
      return Fail("is nested more than " + std::to_string(limits_.max_depth) + " deep");
    }
    std::vector<int> counts(static_cast<size_t>(type.field_count()), 0);
    for (;;) {
      const uint32_t tag = in_.ReadTag();
      if (tag == 0) {
        // 0 at the end of the input or of a nested message's limit; otherwise a bad tag.
        return in_.ConsumedEntireMessage() || Fail("is not well-formed protobuf");
      }
      const FieldDescriptor* f = type.FindFieldByNumber(WireFormatLite::GetTagFieldNumber(tag));
      const bool delimited = WireFormatLite::GetTagWireType(tag) ==
                             WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
      const bool text = f != nullptr && f->type() == FieldDescriptor::TYPE_STRING;
      const bool nested = f != nullptr && f->type() == FieldDescriptor::TYPE_MESSAGE;
      int index = -1;
      if (f != nullptr && f->is_repeated()) {
        index = counts[static_cast<size_t>(f->index())]++;
        if (index >= limits_.max_repeated) {
          path_.push_back({f, -1});
          return Fail("has more than " + std::to_string(limits_.max_repeated) + " elements");
        }
        if (++total_repeated_ > limits_.max_total_repeated) {
          path_.push_back({f, -1});
          return Fail("makes more than " + std::to_string(limits_.max_total_repeated) +
                      " repeated elements in the request");
        }
      }
      if (!delimited || !(text || nested)) {
        // Scalars, bytes, unknown fields and packed repeated scalars: only their framing matters.
        if (!WireFormatLite::SkipField(&in_, tag)) {
          return Fail("is not well-formed protobuf");
        }
        continue;
      }
      path_.push_back({f, index});
      uint32_t length = 0;
      // A length past INT_MAX would turn negative below, and PushLimit ignores negative limits.
      if (!in_.ReadVarint32(&length) || length > static_cast<uint32_t>(INT_MAX)) {
        return Fail("is not well-formed protobuf");
      }
      if (text) {
        // ReadString checks the length against what is left before it allocates.
        if (!in_.ReadString(&buffer_, static_cast<int>(length))) {
          return Fail("is not well-formed protobuf");
        }
        if (!IsValidUtf8(buffer_)) return Fail("is not valid UTF-8");
      } else {
        const auto outer = in_.PushLimit(static_cast<int>(length));
        if (in_.BytesUntilLimit() < static_cast<int>(length)) {
          return Fail("is not well-formed protobuf");
        }
        if (!Message(*f->message_type(), depth + 1)) return false;
        // The input may end at a field boundary inside the message: short, all the same.
        if (in_.BytesUntilLimit() != 0) return Fail("is not well-formed protobuf");
        in_.PopLimit(outer);
      }
      path_.pop_back();
    }
  }

  // Names the field being read (or, for a bad tag, the message that holds it).
  bool Fail(const std::string& what) {
    std::string path;
    for (const Step& s : path_) {
      if (!path.empty()) path += '.';
      path += s.field->name();
      if (s.index >= 0) path += "[" + std::to_string(s.index) + "]";
    }
    error_ = (path.empty() ? "request" : path) + ": " + what;
    return false;
  }

  google::protobuf::io::CodedInputStream in_;
  const RequestLimits& limits_;
  std::vector<Step> path_;
  std::string buffer_;  // reused for every string field
  int total_repeated_ = 0;
  std::string error_;
};

}  // namespace

Status CheckRequestWire(google::protobuf::io::ZeroCopyInputStream& input, const Descriptor& type,
                        const RequestLimits& limits) {
  return Scanner(input, limits).Run(type);
}

}  // namespace tomstream::control
