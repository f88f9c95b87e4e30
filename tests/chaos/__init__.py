"""Chaos suite: failures injected under a running launch load, on a real ZooKeeper quorum."""
