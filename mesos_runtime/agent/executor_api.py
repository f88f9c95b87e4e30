"""`POST /api/v1/executor`: the v1 executor API for custom executors.

SUBSCRIBE answers 200 with a chunked RecordIO stream (SUBSCRIBED first, then LAUNCH,
LAUNCH_GROUP, KILL, ACKNOWLEDGED, MESSAGE, SHUTDOWN); UPDATE and MESSAGE answer 202.
A call that does not decode, or names an executor this agent does not run, gets a 400
whose body says what is wrong.
"""

from __future__ import annotations

from aiohttp import web

from mesos_runtime.security.http_limits import MIB, BodyRefused, read_body
from mesos_runtime.wire import recordio
from mesos_runtime.wire.agent_channel import AgentCall, AgentCallType, AgentMessage
from mesos_runtime.wire.bounds import loads_untrusted
from mesos_runtime.wire.executor import (
    ExecutorCall,
    ExecutorCallType,
    ExecutorEvent,
    ExecutorEventType,
    ExecutorSubscribed,
)
from mesos_runtime.wire.mesos import ContainerID, StatusSource, TaskState
from mesos_runtime.wire.record import WireError

from .agent import Agent
from .custom_executor import CustomExecutor
from .state import Executor, ExecutorKind, ExecutorPhase

PATH = "/api/v1/executor"
BODY_LIMIT = 16 * MIB  # an UPDATE may carry a status' data


def _bad(message: str, status: int = 400) -> web.Response:
    return web.Response(status=status, text=message)


async def handle(request: web.Request, agent: Agent) -> web.StreamResponse:
    if request.method != "POST":
        return _bad(f"Expecting 'POST', received '{request.method}'", 405)
    content_type = request.headers.get("Content-Type", "application/json").split(";")[0].strip()
    if content_type != "application/json":
        return _bad(f"Expecting 'Content-Type' of application/json, got '{content_type}'", 415)
    try:
        body = loads_untrusted(await read_body(request, BODY_LIMIT))
    except BodyRefused as e:
        return e.response()
    except WireError as e:
        return _bad(f"Failed to parse body into JSON: {e}")
    try:
        call = ExecutorCall.from_json(body)
    except WireError as e:
        return _bad(f"Failed to validate executor::Call: {e}")
    executor = agent.executor(call.framework_id, call.executor_id.value)
    if executor is None:
        return _bad(
            f"Executor '{call.executor_id.value}' of framework '{call.framework_id.value}' "
            "is not running on this agent"
        )
    if executor.kind is not ExecutorKind.CUSTOM or not isinstance(executor.runtime, CustomExecutor):
        return _bad(f"Executor '{executor.id}' is built into the agent; it cannot subscribe")
    refused = agent.access.executor_call(request, call, executor)
    if refused is not None:
        return refused
    match call.type:
        case ExecutorCallType.SUBSCRIBE:
            return await _subscribe(request, agent, executor, executor.runtime)
        case ExecutorCallType.UPDATE:
            return _update(agent, executor, call)
        case ExecutorCallType.MESSAGE:
            if call.message is None:
                return _bad("Expecting 'message' to be present")
            agent.metrics["slave/valid_framework_messages"] += 1
            agent.send(
                AgentCall(
                    type=AgentCallType.MESSAGE,
                    agent_id=agent.agent_id,
                    message=AgentMessage(
                        framework_id=executor.framework_id,
                        executor_id=executor.info.executor_id,
                        data=call.message.data,
                    ),
                )
            )
            return web.Response(status=202)
    return _bad(f"Unsupported executor call type {call.type.value}")


def _update(agent: Agent, executor: Executor, call: ExecutorCall) -> web.Response:
    if call.update is None:
        return _bad("Expecting 'update' to be present")
    status = call.update.status
    if status.uuid is None:
        return _bad("Expecting 'uuid' to be present")
    if status.state is TaskState.TASK_STAGING:
        return _bad("Received TASK_STAGING from executor, which is not allowed")
    if executor.task(status.task_id.value) is None:
        done = next((t for t in executor.completed if t.id == status.task_id.value), None)
        if done is None:
            return _bad(f"Task '{status.task_id.value}' is not known to executor '{executor.id}'")
        if any(s.uuid == status.uuid for s in done.statuses) and executor.runtime is not None:
            # re-sent after its acknowledgement was lost (e.g. across an agent restart)
            executor.runtime.acknowledged(done.id, status.uuid)
        return web.Response(status=202)
    agent.task_status(
        executor,
        status.replace(source=StatusSource.SOURCE_EXECUTOR, executor_id=executor.info.executor_id),
    )
    return web.Response(status=202)


async def _subscribe(
    request: web.Request, agent: Agent, executor: Executor, runtime: CustomExecutor
) -> web.StreamResponse:
    if executor.phase is ExecutorPhase.TERMINATED:
        return _bad(f"Executor '{executor.id}' has terminated")
    framework = agent.frameworks[executor.framework_id.value]
    queue = runtime.subscribed()
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        subscribed = ExecutorEvent(
            type=ExecutorEventType.SUBSCRIBED,
            subscribed=ExecutorSubscribed(
                executor_info=executor.info,
                framework_info=framework.info,
                agent_info=agent.info,
                container_id=ContainerID(value=executor.container_id),
            ),
        )
        await response.write(recordio.encode_json(subscribed.to_json()))
        agent.executor_subscribed(executor)
        while True:
            event = await queue.get()
            if event is None:
                break
            await response.write(recordio.encode_json(event.to_json()))
    except (ConnectionError, RuntimeError):
        pass  # the executor went away; it may subscribe again
    finally:
        runtime.disconnected(queue)
    return response
