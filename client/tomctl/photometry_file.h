// Reads a photometry file (CSV or JSON) into PhotometryMessages for `tomctl publish photometry`.
//
// CSV: a header row, then one row per measurement. Comma separated, RFC 4180 quoting ("" is a
// quote inside a quoted cell; quoted cells may hold commas and line breaks), UTF-8 with an
// optional BOM, CRLF or LF line ends. Spaces around unquoted cells are dropped. Blank rows (all
// cells empty) are skipped. Column names (case-insensitive) are the Photometry fields:
//   target_name, date_obs, telescope, instrument, bandpass, brightness, brightness_error,
//   brightness_unit, limiting_brightness, limiting_brightness_error, limiting_brightness_unit,
//   exposure_time, observer, comments, catalog
// the Target columns ra, dec, aliases (separated by ';'), redshift, and TOM Toolkit's names
//   magnitude → brightness, limit → limiting_brightness, error / magnitude_error →
//   brightness_error, filter → bandpass, unit → brightness_unit.
// Unit values AB and ABFLUX become "AB mag". An empty cell leaves its field unset. date_obs is an
// ISO 8601 date-time (→ date_obs_iso), a JD in (2400000, 2600000) (→ date_obs_jd) or an MJD in
// (1000, 150000) (→ date_obs_mjd).
//
// Rows are grouped by target_name: one message per target, in order of first appearance. The
// target's ra/dec/aliases/redshift come from its rows; a later row may leave them empty, but a
// different non-empty value is an error.
//
// JSON: one Hermes message object {"title", "topic", "submitter", "authors", "message_text",
// "data": {"targets": [...], "photometry": [...], ...}} (keys of "data" other than targets and
// photometry go to extra_data_json), an array of such objects, or an array of flat row objects
// keyed like the CSV columns (grouped as for CSV). Unknown keys are errors, except in "data".
//
// Defaults: destination and topic from PublishDefaults win when set; the other fields fill what
// the file leaves empty. Without any title: "Photometry of <target name>". An idempotency key from
// the defaults, when the file yields several messages, becomes key + ":" + target name (for JSON
// message arrays: the message's target names joined by ',', or its 1-based index when those are
// not distinct).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "tomstream/v1/control.pb.h"

namespace tomstream::tomctl {

// From the command line; copied into every message.
struct PublishDefaults {
  std::string destination, topic, title, submitter, authors, message_text, idempotency_key;
};

// `format` is "csv", "json" or "" (from the extension .csv / .json, case-insensitive). Errors
// (InvalidArgument; IoError when the file cannot be read) name the file and the place:
// "<path>: line 4, column brightness: not a number: \"abc\"" for CSV,
// "<path>: [0].data.photometry[2].brightness: ..." for JSON.
Result<std::vector<tomstream::v1::PhotometryMessage>> ReadPhotometryFile(
    const std::string& path, const std::string& format, const PublishDefaults& defaults);

}  // namespace tomstream::tomctl
