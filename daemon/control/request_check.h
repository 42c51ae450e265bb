// Checks a serialized request before protobuf parses it, so that a request protobuf would refuse,
// or one that would cost far more memory parsed than its size on the wire, gets INVALID_ARGUMENT
// naming the field instead of gRPC's bare INTERNAL (and no parse at all).
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/zero_copy_stream.h>

#include "common/status.h"

namespace tomstream::control {

struct RequestLimits {
  // Elements of any one repeated field in one message: a 4 MiB request of empty submessages would
  // otherwise parse into hundreds of megabytes.
  int max_repeated = 10'000;
  // Elements of all repeated fields of the request together: the cap above, nested (200
  // messages of 10,000 empty targets each), would allow millions.
  int max_total_repeated = 100'000;
  // Depth of nested messages.
  int max_depth = 32;
};

// OK, or InvalidArgument with the field's path, e.g.
//   "messages[2].targets[0].name: is not valid UTF-8"
//   "messages[0].photometry: has more than 10000 elements"
//   "messages[200].targets: makes more than 100000 repeated elements in the request"
// Checks: the wire format is well formed; every string field is valid UTF-8 (proto3 requires
// it); the limits above. Unknown fields are skipped, as protobuf does.
Status CheckRequestWire(google::protobuf::io::ZeroCopyInputStream& input,
                        const google::protobuf::Descriptor& type,
                        const RequestLimits& limits = RequestLimits());

}  // namespace tomstream::control
