"""Human-in-the-loop operators: asked again when an answer is malformed, and assigned when the
run starts.

Airflow's REST API takes an answer whose form fields have the wrong type, or fields the form
does not have, and the stock operator then fails the task when it resumes: one careless
answer would kill a step of the procedure. :class:`AskedAgainIfMalformed` checks the answer
on resume (``govflow.answers.answer_problems``) and, when it does not fit, clears it and
waits for another one until the original deadline, with the problems in the task's log and
in its XCom ``answer_problems``. Airflow keeps one request per task instance and does not
change its body when it is asked again, so the request reads as before.

`assigned_users` and `response_timeout` are constructor arguments of Airflow's HITL
operators, fixed when the DAG file is parsed. Who must answer an incident depends on the
incident (its path in policy.yaml, the on-call rotation at that moment), so these operators
read both from the return value of an upstream task when they execute:
``{"users": [{"id": "carol", "name": "Carol Chen"}], "timeout_minutes": 15}`` under
``assignment_key`` of the dict that ``assignment_task_id`` returned (with ``"due_at"``, an
ISO time, the request times out then instead: a deadline that started before the step did);
``None`` there skips the request. The API server then
refuses an answer from anybody else (403), admins included. An assignment whose
``"answered"`` holds an answer given before the request was made (an incident acknowledged
in an earlier run, say), in the shape of the operator's XCom, asks nobody: the task takes
that answer as its own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from airflow.providers.standard.exceptions import HITLTimeoutError
from airflow.providers.standard.operators.hitl import (
    HITLBranchOperator,
    HITLEntryOperator,
    HITLOperator,
)
from airflow.sdk.exceptions import AirflowSkipException, TaskAwaitingInput
from airflow.sdk.execution_time.hitl import upsert_hitl_detail

DEADLINE = "deadline"
# What a resumed HITL task returns (HITLTriggerEventSuccessPayload).
ANSWER_KEYS = frozenset({"chosen_options", "params_input", "responded_at", "responded_by_user"})
PROBLEMS = "answer_problems"
ASKED_AGAIN = "{user}'s answer does not fit the request ({problems}): asked again"
WITHDRAWN = "withdrawn, nobody needs to answer: {reason}"
ANSWERED_BEFORE = "{task_id}: {user} answered before this run ({options}), nobody is asked"
ANSWERED_LATE = "{user} answered after the deployment stopped, the answer is not counted: {reason}"


class AskedAgainIfMalformed(HITLOperator):
    """An HITL operator that asks again, until its deadline, instead of failing on an answer
    that does not fit its options and form. It records its deadline as the XCom
    ``deadline``, which a request asked again keeps."""

    def execute(self, context: Any) -> Any:
        self.remember_request(context["task_instance"])
        return super().execute(context)

    def remember_request(self, ti: Any) -> None:
        if self.response_timeout:
            deadline = datetime.now(UTC) + self.response_timeout
            ti.xcom_push(key=DEADLINE, value=deadline.isoformat())

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        return super().execute_complete(context, self.fitting(context, event))

    def fitting(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """``event`` when its answer fits the request (or nobody answered); otherwise the
        request is asked again (this raises to wait), or times out if no time is left."""
        from govflow.answers import answer_problems

        user = event.get("responded_by_user")
        if "error" not in event and user:
            problems = answer_problems(
                event["chosen_options"] or [],
                event["params_input"] or {},
                options=self.options,
                multiple=self.multiple,
                fields={name: self.params.get_param(name).schema for name in self.params},
            )
            if problems:
                return self.ask_again(context, user["id"], problems)
        return event

    def ask_again(self, context: Any, user: str, problems: list[str]) -> dict[str, Any]:
        """Clear the answer and wait again, for what is left of the response timeout. When
        none is left, the request times out as it would have without the answer."""
        ti = context["task_instance"]
        print(ASKED_AGAIN.format(user=user, problems="; ".join(problems)))
        earlier = ti.xcom_pull(key=PROBLEMS, task_ids=ti.task_id, map_indexes=ti.map_index)
        ti.xcom_push(key=PROBLEMS, value=[*(earlier or []), {"by": user, "problems": problems}])
        left = self.time_left(ti)
        if left is not None and left <= timedelta(0):
            return self.timed_out()
        self.park(ti, left, ask=True)

    def time_left(self, ti: Any) -> timedelta | None:
        """What is left of the response timeout (None: no timeout)."""
        deadline = ti.xcom_pull(key=DEADLINE, task_ids=ti.task_id, map_indexes=ti.map_index)
        return datetime.fromisoformat(deadline) - datetime.now(UTC) if deadline else None

    def timed_out(self) -> dict[str, Any]:
        """The event of a request that ran out of time: its defaults, answered by nobody (the
        task fails without defaults, as Airflow's own timeout does)."""
        if not self.defaults:
            raise HITLTimeoutError(f"{self.task_id}: no answer that fits before the deadline")
        return {
            "chosen_options": self.defaults,
            "params_input": {name: self.params.get_param(name).value for name in self.params},
            "responded_at": datetime.now(UTC),
            "responded_by_user": None,
        }

    def park(self, ti: Any, left: timedelta | None, *, ask: bool) -> NoReturn:
        """Wait (again) for an answer; ``ask`` writes the request again, which clears any
        answer it holds."""
        if ask:
            self.write_request(ti, defaults=self.defaults)
        raise TaskAwaitingInput(method_name="execute_complete", timeout=left)

    def write_request(self, ti: Any, *, defaults: list[str] | None) -> None:
        upsert_hitl_detail(
            ti_id=ti.id,
            options=self.options,
            subject=self.subject,
            body=self.body,
            defaults=defaults,
            multiple=self.multiple,
            params=self.serialized_params,
            assigned_users=self.assigned_users,
        )


class ApprovalRequest(AskedAgainIfMalformed):
    """An approval of the deployment procedure: asked again when malformed, and withdrawn
    when the deployment stops while it waits.

    Nothing wakes a parked task but an answer or its timeout, so the request parks for at
    most ``check_every`` at a time and, each time it wakes without an answer, asks govflow
    whether the deployment stopped meanwhile (``withdrawal_reason``): another step failed, or
    another approver rejected (each answer is recorded as it is given, ``record_approval``,
    and a rejection stops the deployment at once). Then it skips with the
    reason ("withdrawn, nobody needs to answer: ..."), which leaves the UI's required
    actions and lets the run end. The request carries no default for Airflow to apply at
    each wake: at the real deadline this task answers with the default itself (Reject, by
    nobody). A task cannot write an answer into its request (Airflow 3.3's supervisor
    passes only the request itself to the API), so a withdrawn or timed-out request stays
    unanswered in Airflow's table, and a late answer over REST is still taken (200) without
    resuming anything."""

    def __init__(self, *, check_every: timedelta | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check_every = check_every

    def execute(self, context: Any) -> Any:
        ti = context["task_instance"]
        self.remember_request(ti)
        self.log.info("Waiting for response")
        self.park(ti, self.response_timeout, ask=True)

    def park(self, ti: Any, left: timedelta | None, *, ask: bool) -> NoReturn:
        if ask:
            self.write_request(ti, defaults=None)
        wait = left if self.check_every is None else min(left or self.check_every, self.check_every)
        raise TaskAwaitingInput(method_name="execute_complete", timeout=wait)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        from govflow.flows.deployment import record_approval, withdrawal_reason

        ti = context["task_instance"]
        reason = withdrawal_reason(context["run_id"])
        if reason:
            self.withdraw(event, reason)
        if event.get("error_type") == "timeout":
            left = self.time_left(ti)
            if left is None or left > timedelta(0):
                self.park(ti, left, ask=False)
            event = self.timed_out()
        answer = super().execute_complete(context, event)
        # Recorded as given: a rejection stops the deployment now, not once all have answered.
        record_approval(context["run_id"], ti.map_index, dict(answer))
        return answer

    def withdraw(self, event: dict[str, Any], reason: str) -> NoReturn:
        user = event.get("responded_by_user")
        if user:
            raise AirflowSkipException(ANSWERED_LATE.format(user=user["id"], reason=reason))
        raise AirflowSkipException(WITHDRAWN.format(reason=reason))


def answers_of(ti: Any, task_id: str, count: int) -> list[dict[str, Any] | None]:
    """The answer each of the ``count`` mapped requests of ``task_id`` got, in map order, or
    None where the task ended without returning one: its state was set by hand (e.g. marked
    success over the REST API) instead of a person answering it.

    Only the task can read its own request (the Execution API scopes a task's token to its
    own task instance), so the answer it returned is the evidence read here."""
    answers: list[dict[str, Any] | None] = []
    for index in range(count):
        value = ti.xcom_pull(task_ids=task_id, map_indexes=index)
        answered = isinstance(value, dict) and value.keys() >= ANSWER_KEYS
        answers.append(value if answered else None)
    return answers


class HumanForm(AskedAgainIfMalformed, HITLEntryOperator):
    """A form of the procedure (`HITLEntryOperator`), asked again when malformed, and, for
    the form of step ``form_step``, when the answer breaks that form's rules (a deployment
    window that is not two ISO date-times in order): the step recording it would stop the
    deployment over what its author can correct."""

    def __init__(self, *, form_step: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.form_step = form_step

    def fitting(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        event = super().fitting(context, event)
        user = event.get("responded_by_user")
        if self.form_step is None or "error" in event or not user:
            return event
        from govflow.flows.deployment import form_problems

        problems = form_problems(self.form_step, event["params_input"] or {})
        return self.ask_again(context, user["id"], problems) if problems else event


# The least time a request with a deadline already past is given: it times out at once.
LEAST_TIMEOUT = timedelta(seconds=1)


def response_timeout(assignment: dict[str, Any], now: datetime) -> timedelta | None:
    """An assignment's response timeout: until its ``due_at`` (an ISO time, e.g. an SLA
    counted from when the incident opened, not from when this step started) when it has
    one, else ``timeout_minutes`` from now; None for neither."""
    due = assignment.get("due_at")
    if due:
        return max(datetime.fromisoformat(due) - now, LEAST_TIMEOUT)
    minutes = assignment.get("timeout_minutes")
    return timedelta(minutes=minutes) if minutes else None


class AssignedAtRuntime(AskedAgainIfMalformed):
    """Assignees and response timeout taken from an upstream task's return value; asked
    again, of the same people, when an answer does not fit (an option it does not offer, a
    field left blank) rather than failing the step."""

    def __init__(self, *, assignment_task_id: str, assignment_key: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.assignment_task_id = assignment_task_id
        self.assignment_key = assignment_key

    def assignment(self, ti: Any) -> dict[str, Any] | None:
        return ti.xcom_pull(task_ids=self.assignment_task_id)[self.assignment_key]

    def execute(self, context: Any) -> Any:
        assignment = self.assignment(context["ti"])
        if assignment is None:
            # The upstream task decided nobody needs to be asked (e.g. a rollback criterion
            # fired before the stage's approval, or a rollback the System Owner requested).
            raise AirflowSkipException(
                f"{self.task_id}: {self.assignment_task_id} asks nobody ({self.assignment_key})"
            )
        if not assignment["users"]:
            raise ValueError(
                f"nobody to assign {self.task_id} to: {self.assignment_key} of "
                f"{self.assignment_task_id} names no user"
            )
        self.assigned_users = assignment["users"]
        if assignment.get("answered"):
            return self.answered_before(context, assignment["answered"])
        self.response_timeout = response_timeout(assignment, datetime.now(UTC))
        names = ", ".join(user["id"] for user in self.assigned_users)
        print(f"assigned to {names}; response timeout {self.response_timeout or 'none'}")
        return super().execute(context)

    def write_request(self, ti: Any, *, defaults: list[str] | None) -> None:
        # Resumed, the operator is the DAG file's again: the assignees are the plan's.
        assignment = self.assignment(ti)
        self.assigned_users = assignment["users"] if assignment else self.assigned_users
        super().write_request(ti, defaults=defaults)

    def answered_before(self, context: Any, answered: dict[str, Any]) -> Any:
        """Resume with an answer given before the request, as if it had just been given."""
        user = (answered.get("responded_by_user") or {}).get("id", "nobody")
        options = ", ".join(answered["chosen_options"])
        print(ANSWERED_BEFORE.format(task_id=self.task_id, user=user, options=options))
        event = {**answered, "responded_at": datetime.fromisoformat(answered["responded_at"])}
        return self.execute_complete(context, event)


class AssignedBranchOperator(AssignedAtRuntime, HITLBranchOperator):
    """`HITLBranchOperator` assigned at run time. A branch operator returns the branch it
    took, so the answer itself (who chose what, or that the timeout did) is pushed as the
    XCom ``response`` for the tasks that record it."""

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        if "error" not in event:
            # The answer that counts: one that does not fit is asked again first.
            event = self.fitting(context, event)
            context["ti"].xcom_push(key="response", value=response_of(event))
        return super().execute_complete(context, event)


class AssignedEntryOperator(AssignedAtRuntime, HITLEntryOperator):
    """`HITLEntryOperator` (a form) assigned at run time, asked again when malformed (a
    field it must have left blank, say) rather than failing the step after it."""


def response_of(event: dict[str, Any]) -> dict[str, Any]:
    """The answer in the shape of an HITL operator's XCom, JSON-able (the time as ISO text);
    ``govflow.answers.Answer.from_xcom`` decodes it. ``responded_by_user`` is None when the
    timeout answered."""
    responded_at = event.get("responded_at")
    return {
        "chosen_options": event.get("chosen_options") or [],
        "params_input": event.get("params_input") or {},
        "responded_by_user": event.get("responded_by_user"),
        "responded_at": responded_at.isoformat() if responded_at else None,
    }
