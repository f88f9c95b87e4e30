"""The service scheduler: a v1 framework, run as a Marathon app, that deploys a service
spec's pods through its plans (`python -m mesos_runtime.sdk.scheduler`)."""
