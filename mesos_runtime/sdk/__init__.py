"""The service SDK: service specs (pods, tasks, plans) in the Mesosphere SDK model and the
plan state machine that a service scheduler drives. Pure: no I/O, no event loop.
"""
