// Telling systemd how stampd is doing (sd_notify(3)): READY, RELOADING,
// STOPPING, STATUS and the watchdog. Without NOTIFY_SOCKET (not started by
// systemd with Type=notify) every call is a no-op.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace stamp::service {

void ready(const std::string& status);
// RELOADING=1 with MONOTONIC_USEC, as systemd 253's Type=notify-reload wants.
void reloading();
void stopping();
void status(const std::string& status);
void watchdog();
// The watchdog interval systemd expects (WatchdogSec=), if enabled for us.
std::optional<std::chrono::microseconds> watchdogInterval();

}  // namespace stamp::service
