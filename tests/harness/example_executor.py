"""An example custom executor on the v1 executor HTTP API (aiohttp), run by tests as a
framework's real executor program: `python -m tests.harness.example_executor`.

It subscribes to the agent at MESOS_AGENT_ENDPOINT, runs each launched task's `command` label as
a shell process (TASK_STARTING, TASK_RUNNING, then FINISHED/FAILED/KILLED), echoes every
framework message back as `echo:<data>`, sends `task-data:<task data>` as a message when a
task carries `data`, keeps unacknowledged updates and re-sends them when it re-subscribes
(after an agent restart, as MESOS_CHECKPOINT asks), and exits on SHUTDOWN or once its
tasks are done and acknowledged if a task's labels say `exit_when_done=true`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import ssl
import sys
import time
import uuid

import aiohttp

from mesos_runtime.wire import recordio


class ExampleExecutor:
    def __init__(self) -> None:
        self.endpoint = os.environ["MESOS_AGENT_ENDPOINT"]
        self.framework_id = os.environ["MESOS_FRAMEWORK_ID"]
        self.executor_id = os.environ["MESOS_EXECUTOR_ID"]
        self.checkpoint = os.environ.get("MESOS_CHECKPOINT") == "1"
        # TLS as the agent speaks it: its LIBPROCESS_SSL_* settings, handed to executors
        self.tls: ssl.SSLContext | bool = True
        scheme = "http"
        if os.environ.get("LIBPROCESS_SSL_ENABLED") == "true":
            scheme = "https"
            self.tls = ssl.create_default_context(cafile=os.environ["LIBPROCESS_SSL_CA_FILE"])
            self.tls.load_cert_chain(
                os.environ["LIBPROCESS_SSL_CERT_FILE"], os.environ["LIBPROCESS_SSL_KEY_FILE"]
            )
        self.url = f"{scheme}://{self.endpoint}/api/v1/executor"
        self.tasks: dict[str, dict] = {}  # task_id -> TaskInfo JSON
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.unacked: dict[str, dict] = {}  # uuid (b64) -> TaskStatus JSON
        self.done = asyncio.Event()
        self.exit_when_done = False
        self.session: aiohttp.ClientSession | None = None
        # the agent's token for this executor run (Mesos' executor authentication)
        token = os.environ.get("MESOS_EXECUTOR_AUTHENTICATION_TOKEN")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def base(self, kind: str) -> dict:
        return {
            "type": kind,
            "framework_id": {"value": self.framework_id},
            "executor_id": {"value": self.executor_id},
        }

    async def post(self, call: dict) -> None:
        assert self.session is not None
        async with self.session.post(self.url, json=call, headers=self.headers) as response:
            if response.status != 202:
                print(
                    f"{call['type']} answered {response.status}: {await response.text()}",
                    file=sys.stderr,
                )

    async def update(self, task_id: str, state: str, message: str | None = None) -> None:
        status = {
            "task_id": {"value": task_id},
            "state": state,
            "source": "SOURCE_EXECUTOR",
            "executor_id": {"value": self.executor_id},
            "timestamp": time.time(),
            "uuid": base64.b64encode(uuid.uuid4().bytes).decode(),
        }
        if message:
            status["message"] = message
        self.unacked[status["uuid"]] = status
        call = self.base("UPDATE")
        call["update"] = {"status": status}
        await self.post(call)

    async def message(self, data: bytes) -> None:
        call = self.base("MESSAGE")
        call["message"] = {"data": base64.b64encode(data).decode()}
        await self.post(call)

    # --- the subscription ---------------------------------------------------------

    async def run(self) -> None:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.tls))
        try:
            while not self.done.is_set():
                try:
                    await self.subscribe()
                except (aiohttp.ClientError, OSError) as e:
                    print(f"agent connection: {e}", file=sys.stderr)
                if self.done.is_set() or not self.checkpoint:
                    break
                await asyncio.sleep(0.2)  # the agent may be restarting: subscribe again
        finally:
            await self.session.close()

    async def subscribe(self) -> None:
        assert self.session is not None
        call = self.base("SUBSCRIBE")
        call["subscribe"] = {
            "unacknowledged_tasks": [t for t in self.tasks.values()],
            "unacknowledged_updates": list(self.unacked.values()),
        }
        async with self.session.post(self.url, json=call, headers=self.headers) as response:
            if response.status != 200:
                print(
                    f"SUBSCRIBE answered {response.status}: {await response.text()}",
                    file=sys.stderr,
                )
                await asyncio.sleep(0.5)
                return
            async for payload in recordio.read_records(response.content.iter_any()):
                await self.handle(json.loads(payload))
                if self.done.is_set():
                    return

    async def handle(self, event: dict) -> None:
        kind = event["type"]
        if kind == "SUBSCRIBED":
            # updates sent while the agent was away: send them again
            for status in list(self.unacked.values()):
                call = self.base("UPDATE")
                call["update"] = {"status": status}
                await self.post(call)
        elif kind == "LAUNCH":
            await self.launch(event["launch"]["task"])
        elif kind == "LAUNCH_GROUP":
            for task in event["launch_group"]["task_group"]["tasks"]:
                await self.launch(task)
        elif kind == "KILL":
            process = self.processes.get(event["kill"]["task_id"]["value"])
            if process is not None and process.returncode is None:
                os.killpg(process.pid, signal.SIGTERM)
        elif kind == "ACKNOWLEDGED":
            self.unacked.pop(event["acknowledged"]["uuid"], None)
            self.maybe_exit()
        elif kind == "MESSAGE":
            data = base64.b64decode(event["message"]["data"])
            await self.message(b"echo:" + data)
        elif kind == "SHUTDOWN":
            for process in self.processes.values():
                if process.returncode is None:
                    os.killpg(process.pid, signal.SIGTERM)
            self.done.set()

    async def launch(self, task: dict) -> None:
        task_id = task["task_id"]["value"]
        self.tasks[task_id] = task
        labels = {
            label["key"]: label.get("value") for label in task.get("labels", {}).get("labels", [])
        }
        self.exit_when_done = self.exit_when_done or labels.get("exit_when_done") == "true"
        await self.update(task_id, "TASK_STARTING")
        if "data" in task:
            await self.message(b"task-data:" + base64.b64decode(task["data"]))
        command = labels.get("command") or "true"
        process = await asyncio.create_subprocess_shell(command, start_new_session=True)
        self.processes[task_id] = process
        await self.update(task_id, "TASK_RUNNING")
        asyncio.get_running_loop().create_task(self.supervise(task_id, process))

    async def supervise(self, task_id: str, process: asyncio.subprocess.Process) -> None:
        code = await process.wait()
        if code == 0:
            await self.update(task_id, "TASK_FINISHED", "Command exited with status 0")
        elif code < 0:
            await self.update(task_id, "TASK_KILLED", f"Command killed by signal {-code}")
        else:
            await self.update(task_id, "TASK_FAILED", f"Command exited with status {code}")
        self.maybe_exit()

    def maybe_exit(self) -> None:
        finished = all(p.returncode is not None for p in self.processes.values())
        if self.exit_when_done and finished and self.processes and not self.unacked:
            self.done.set()


def main() -> None:
    asyncio.run(ExampleExecutor().run())


if __name__ == "__main__":
    main()
