// RawDb: a read-write SQLite connection opened with the plain SQLite API, independent of the
// store's code, for unit tests that check what the store wrote. Failures are gtest failures.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace tomstream::store {

class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    const int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr);
    if (rc != SQLITE_OK) {
      ADD_FAILURE() << "cannot open " << path << ": " << sqlite3_errstr(rc);
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  void Exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << (err != nullptr ? err : "?");
    }
    sqlite3_free(err);
  }
  // The first column of every row, as text.
  std::vector<std::string> Column(const std::string& sql) {
    std::vector<std::string> out;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return out;
    }
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      out.emplace_back(text == nullptr ? "" : reinterpret_cast<const char*>(text));
    }
    if (rc != SQLITE_DONE) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
    }
    sqlite3_finalize(stmt);
    return out;
  }
  std::string Text(const std::string& sql) {
    auto col = Column(sql);
    if (col.empty()) {
      ADD_FAILURE() << "no row: " << sql;
      return "";
    }
    return col[0];
  }
  int64_t Int(const std::string& sql) { return std::stoll(Text(sql)); }
  bool HasTable(const std::string& name) {
    return Int("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '" + name +
               "'") == 1;
  }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace tomstream::store
