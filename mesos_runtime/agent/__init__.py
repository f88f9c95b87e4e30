"""The Mesos agent (`mesos-agent`): runs tasks in sandboxed process groups for the master,
checkpoints what it runs so that a restart re-attaches to it. See docs/agent.md.
"""
