"""The users tasks run as (`--switch_user`, as Mesos): `CommandInfo.user`, else
`FrameworkInfo.user`, looked up on this host off the event loop (NSS may ask a directory
server). An unknown user, or switching without root, fails the task with a message that
says so.
"""

from __future__ import annotations

import asyncio
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from mesos_runtime.wire.mesos import CommandInfo, FrameworkInfo


class UserError(Exception):
    """A task's user cannot be used on this agent: the message says why."""


@dataclass(frozen=True, slots=True)
class TaskUser:
    """Who a task's processes run as, and who owns its sandbox."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str

    @property
    def owner(self) -> tuple[int, int]:
        return self.uid, self.gid

    def switch_argv(self) -> list[str]:
        """The prefix that runs a command as this user (util-linux' setpriv)."""
        return [
            "setpriv",
            f"--reuid={self.uid}",
            f"--regid={self.gid}",
            "--groups=" + (",".join(str(g) for g in self.groups) or str(self.gid)),
            "--",
        ]

    def environment(self) -> dict[str, str]:
        """What a process of this user expects to find about itself."""
        return {"USER": self.name, "LOGNAME": self.name, "HOME": self.home}

    def own_sandbox(self, sandbox: Path) -> None:
        """Hand the sandbox to the user, with its stdout/stderr (created here, without
        following links, so the launcher appends to files the user owns)."""
        os.chown(sandbox, self.uid, self.gid)
        for name in ("stdout", "stderr"):
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(sandbox / name, flags, 0o644)
            try:
                os.fchown(fd, self.uid, self.gid)
            finally:
                os.close(fd)


def task_user_name(command: CommandInfo | None, framework: FrameworkInfo) -> str | None:
    """The user a task's (or executor's) command runs as, as Mesos chooses it."""
    if command is not None and command.user:
        return command.user
    return framework.user or None


def _lookup(name: str) -> TaskUser:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise UserError(f"user '{name}' does not exist on this agent") from None
    return TaskUser(
        name=name,
        uid=entry.pw_uid,
        gid=entry.pw_gid,
        groups=tuple(os.getgrouplist(name, entry.pw_gid)),
        home=entry.pw_dir,
    )


class Users:
    """Resolves task users; None when the task runs as the agent's own user."""

    def __init__(self, switch_user: bool) -> None:
        self.switch_user = switch_user
        self._known: dict[str, TaskUser] = {}

    async def resolve(self, name: str | None) -> TaskUser | None:
        if not self.switch_user or not name:
            return None
        user = self._known.get(name)
        if user is None:
            user = await asyncio.to_thread(_lookup, name)
            # kept for the agent's life: a few users run most tasks
            self._known[name] = user
        if user.uid == os.geteuid():
            return None  # nothing to switch
        if os.geteuid() != 0:
            raise UserError(
                f"cannot run as user '{name}': the agent is not running as root "
                "(run it as root, or with --no-switch_user)"
            )
        return user
