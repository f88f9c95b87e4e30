"""Maintenance on the master: the schedule, machines DOWN and UP again, and which agents
may be offered while their machine is in maintenance.
"""

from __future__ import annotations

import logging

from .maintenance import MachineID, MachineMode, MaintenanceSchedule
from .offers import OfferCalls
from .registry import MachineInfo
from .state import (
    Agent,
)
from .validation import (
    validate_schedule,
)

log = logging.getLogger("mesos.master")


class MaintenanceCalls(OfferCalls):
    """The operator's maintenance calls (on OfferCalls)."""

    def agent_may_be_active(self, agent: Agent) -> bool:
        """Offers come from an agent unless its machine is DOWN or it was deactivated."""
        return self._machine_mode(agent) is not MachineMode.DOWN and not (
            self.drain.is_deactivated(agent.id)
        )

    def _machine_mode(self, agent: Agent) -> MachineMode:
        for machine, mode in self.machines.items():
            if machine.matches(agent.info.hostname, agent.ip):
                return mode
        return MachineMode.UP

    async def update_maintenance_schedule(self, schedule: MaintenanceSchedule) -> str | None:
        error = validate_schedule(schedule)
        if error is not None:
            return error
        scheduled = schedule.machines()
        machines: dict[MachineID, MachineMode] = {}
        for machine, mode in self.machines.items():
            if mode is MachineMode.DOWN:
                if machine not in scheduled:
                    return f"Machine {machine.to_json()} is DOWN and must stay scheduled"
                machines[machine] = mode
        for machine in scheduled:
            machines.setdefault(machine, MachineMode.DRAINING)
        await self.registry.update_maintenance(
            schedule, [MachineInfo(id=m, mode=mode) for m, mode in machines.items()]
        )
        self.schedule = schedule
        self.machines = machines
        return None

    async def start_maintenance(self, machines: list[MachineID]) -> str | None:
        for machine in machines:
            if machine not in self.machines:
                return f"Machine {machine.to_json()} is not part of a maintenance schedule"
        updated = dict(self.machines)
        for machine in machines:
            updated[machine] = MachineMode.DOWN
        await self.registry.update_maintenance(
            self.schedule, [MachineInfo(id=m, mode=mode) for m, mode in updated.items()]
        )
        self.machines = updated
        for agent in self.agents.values():
            if agent.active and self._machine_mode(agent) is MachineMode.DOWN:
                agent.active = False
                self.allocator.deactivate_agent(agent.id)
                for offer_id in list(agent.offers):
                    self.rescind_offer(offer_id)
                log.info("Agent %s deactivated: its machine is DOWN", agent.id)
        return None

    async def stop_maintenance(self, machines: list[MachineID]) -> str | None:
        for machine in machines:
            if self.machines.get(machine) is not MachineMode.DOWN:
                return f"Machine {machine.to_json()} is not DOWN"
        updated = {m: mode for m, mode in self.machines.items() if m not in machines}
        windows = []
        for window in self.schedule.windows:
            left = [m for m in window.machine_ids if m not in machines]
            if left:
                windows.append(window.replace(machine_ids=left))
        schedule = MaintenanceSchedule(windows=windows)
        await self.registry.update_maintenance(
            schedule, [MachineInfo(id=m, mode=mode) for m, mode in updated.items()]
        )
        self.schedule = schedule
        self.machines = updated
        for agent in self.agents.values():
            if not agent.active and self.agent_may_be_active(agent):
                agent.active = True
                self.allocator.activate_agent(agent.id)
                self.request_allocation(agent.id)
                log.info("Agent %s reactivated: its machine is UP", agent.id)
        return None
