"""Infinity's Mesos-model runtime: masters, agents and the libraries that speak to them."""

__version__ = "0.1.0"
# The Mesos release whose v1 HTTP API this runtime speaks; reported by /version.
MESOS_API_VERSION = "1.11.0"
