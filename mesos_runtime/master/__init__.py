"""The Mesos-model master: cluster state, the scheduler/operator/agent HTTP APIs, the
registry of durable facts and the allocation loop (the allocator itself is pure)."""
