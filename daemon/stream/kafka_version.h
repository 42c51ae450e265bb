#pragma once

#include <string>

namespace tomstream::stream {

// The librdkafka version the daemon runs with, e.g. "2.0.2".
std::string LibrdkafkaVersion();

}  // namespace tomstream::stream
