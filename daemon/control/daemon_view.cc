#include "control/daemon_view.h"

#include <thread>

namespace tomstream::control {
namespace {
Status NotHere() { return Status::Unimplemented("not provided by this daemon"); }
}  // namespace

Result<stream::RouteInfo> DaemonView::AddRoute(const std::string&, stream::Route) {
  return NotHere();
}
Status DaemonView::RemoveRoute(int64_t) { return NotHere(); }
Result<std::vector<stream::RouteInfo>> DaemonView::ListRoutes(const std::string&) {
  return NotHere();
}
Result<std::vector<stream::PartitionStatusSnapshot>> DaemonView::SeekRoute(
    int64_t, const std::string&, const std::string&, const config::StartPosition&,
    std::optional<int64_t>) {
  return NotHere();
}
Result<std::vector<store::AlertRow>> DaemonView::ListAlerts(const store::AlertFilter&, int64_t,
                                                            int) {
  return NotHere();
}
Result<std::vector<store::AlertRow>> DaemonView::AlertsAfter(const store::AlertFilter&, int64_t,
                                                             int) {
  return NotHere();
}
Result<store::AlertRow> DaemonView::GetAlert(int64_t) { return NotHere(); }
Result<int64_t> DaemonView::LatestAlertId() { return NotHere(); }
void DaemonView::WaitForAlerts(int64_t, std::chrono::milliseconds limit) {
  std::this_thread::sleep_for(limit);
}
Result<std::vector<store::PhotometryRow>> DaemonView::ListPhotometry(const std::string&,
                                                                     std::optional<double>,
                                                                     std::optional<double>,
                                                                     int64_t, int) {
  return NotHere();
}
Result<std::vector<store::QuarantineRow>> DaemonView::ListQuarantine(const std::string&,
                                                                     const std::string&, bool,
                                                                     int64_t, int) {
  return NotHere();
}

Result<std::vector<store::EnqueueOutcome>> DaemonView::EnqueuePhotometry(
    std::vector<outbox::PhotometryMessage>, bool) {
  return NotHere();
}
Result<std::vector<store::OutboxEntry>> DaemonView::ListOutbox(const store::OutboxFilter&,
                                                               int64_t, int) {
  return NotHere();
}
Result<store::OutboxEntry> DaemonView::GetOutboxEntry(const std::string&) { return NotHere(); }
Result<store::OutboxEntry> DaemonView::RetryOutboxEntry(const std::string&) { return NotHere(); }
Result<store::OutboxEntry> DaemonView::CancelOutboxEntry(const std::string&) { return NotHere(); }

}  // namespace tomstream::control
