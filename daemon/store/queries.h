// Reading stored alerts, photometry and quarantine (read-only connections; never blocks the
// writer).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace tomstream::store {

class Store;

struct AlertRow {
  int64_t id = 0;
  std::string stream;
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t kafka_ts_ms = -1;
  int64_t stored_at_ms = 0;
  std::string handler;
  std::string message_id;
  std::string format;
  std::string payload;  // empty unless asked for
  std::string headers;  // EncodeHeaders() form
  std::string summary;
};

struct AlertFilter {
  std::string stream;   // empty: any
  std::string topic;
  std::string handler;
  std::optional<int64_t> stored_from_ms;  // inclusive
  std::optional<int64_t> stored_to_ms;    // exclusive
  bool include_payload = false;
};

struct PhotometryRow {
  int64_t id = 0;
  int64_t alert_id = 0;
  std::string target_name;
  std::string date_obs;
  double date_obs_jd = 0;
  std::string telescope, instrument, bandpass;
  std::optional<double> brightness, brightness_error;
  std::string brightness_unit;
  std::optional<double> limiting_brightness, limiting_brightness_error;
  std::string limiting_brightness_unit;
  std::optional<double> exposure_time;
  std::string observer, comments, catalog;
};

struct QuarantineRow {
  int64_t id = 0;
  std::string stream, topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string handler, error, payload, headers;
  int64_t stored_at_ms = 0;
};

class Queries {
 public:
  explicit Queries(Store& store) : store_(store) {}

  // Newest first: alerts with id < before_id (0: from the newest), at most `limit`.
  Result<std::vector<AlertRow>> ListAlerts(const AlertFilter& filter, int64_t before_id,
                                           int limit);
  // Oldest first: alerts with id > after_id, at most `limit` (a live tail).
  Result<std::vector<AlertRow>> AlertsAfter(const AlertFilter& filter, int64_t after_id,
                                            int limit);
  // NOT_FOUND naming the id when absent. Includes the payload.
  Result<AlertRow> GetAlert(int64_t id);
  // The newest alert id (0 when none).
  Result<int64_t> LatestAlertId();

  // Photometry of the target whose name or alias is `target`, with date_obs_jd in
  // [jd_from, jd_to), in storage order, ids > after_id, at most `limit`.
  Result<std::vector<PhotometryRow>> ListPhotometry(const std::string& target,
                                                    std::optional<double> jd_from,
                                                    std::optional<double> jd_to,
                                                    int64_t after_id, int limit);

  // Newest first, ids < before_id (0: from the newest).
  Result<std::vector<QuarantineRow>> ListQuarantine(const std::string& stream,
                                                    const std::string& topic,
                                                    bool include_payload, int64_t before_id,
                                                    int limit);

 private:
  Result<std::vector<AlertRow>> SelectAlerts(const AlertFilter& filter, bool newest_first,
                                             int64_t bound_id, int limit);
  Store& store_;
};

}  // namespace tomstream::store
