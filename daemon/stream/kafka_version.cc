#include "stream/kafka_version.h"

#include <librdkafka/rdkafka.h>

namespace tomstream::stream {

std::string LibrdkafkaVersion() { return rd_kafka_version_str(); }

}  // namespace tomstream::stream
