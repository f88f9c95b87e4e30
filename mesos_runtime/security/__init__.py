"""What the daemons and clients share to be safe on a network: credentials, HTTP Basic
authentication, Mesos ACLs, executor tokens, TLS settings and limits on HTTP servers.

It imports only `mesos_runtime.wire` (and aiohttp); master, agent, scheduler library and
CLI import it.
"""
