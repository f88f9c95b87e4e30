"""Maintenance records of `mesos/v1/maintenance.proto` and the machine modes they imply:
a schedule of windows names machines; scheduled machines are DRAINING, START_MAINTENANCE
takes them DOWN (their agents get no offers), STOP_MAINTENANCE brings them back UP.
"""

from __future__ import annotations

import enum

from mesos_runtime.wire.mesos import DurationInfo, TimeInfo
from mesos_runtime.wire.record import Record, record, repeated, required


@record(frozen=True)
class MachineID(Record):
    hostname: str | None = None
    ip: str | None = None

    def matches(self, hostname: str | None, ip: str | None) -> bool:
        if self.hostname and hostname and self.hostname == hostname:
            return True
        return bool(self.ip and ip and self.ip == ip)


class MachineMode(enum.Enum):
    UP = "UP"
    DRAINING = "DRAINING"
    DOWN = "DOWN"


@record
class Unavailability(Record):
    start: TimeInfo = required()
    duration: DurationInfo | None = None


@record
class MaintenanceWindow(Record):
    machine_ids: list[MachineID] = repeated()
    unavailability: Unavailability = required()


@record
class MaintenanceSchedule(Record):
    windows: list[MaintenanceWindow] = repeated()

    def machines(self) -> list[MachineID]:
        seen: list[MachineID] = []
        for window in self.windows:
            for machine in window.machine_ids:
                if machine not in seen:
                    seen.append(machine)
        return seen
