"""``app/tasks.py``: work after the response, in the background on Lambda, else in-process.

In the background a task is an asynchronous ("Event") invocation of the function itself
through Zappa's ``zappa.asynchronous``, whose payload Zappa's router turns back into the call.
``EventInvocationTests`` sends nothing anywhere: the invocations are caught
(``devtools.lambda_harness.async_invocations``) and botocore may reach no host at all. The
whole path through the Lambda entry point, with SES, is ``LambdaMailTests`` in ``test_aws.py``.
"""

import json
import os
from datetime import UTC, datetime
from unittest import mock

from django.test import SimpleTestCase, override_settings

from app import tasks
from devtools.lambda_harness import (
    LambdaContext,
    async_invocations,
    aws_environment,
    aws_only_at,
)

calls: list[dict] = []


def record(**kwargs) -> None:
    calls.append(kwargs)


def explode(**kwargs) -> None:
    raise RuntimeError("the mail server is down")


class DeferTests(SimpleTestCase):
    def setUp(self):
        calls.clear()

    @override_settings(TASKS_IN_BACKGROUND=False)
    def test_outside_lambda_the_task_runs_in_the_requests_process(self):
        tasks.defer(record, email="user@example.com")
        self.assertEqual(calls, [{"email": "user@example.com"}])

    @override_settings(TASKS_IN_BACKGROUND=True)
    def test_in_the_background_the_task_is_sent_by_its_import_path_and_not_run_here(self):
        with mock.patch("zappa.asynchronous.run") as run:
            tasks.defer(record, email="user@example.com")
        run.assert_called_once_with(record, kwargs={"email": "user@example.com"})
        self.assertEqual(calls, [])

    def test_a_failing_task_or_invocation_is_logged_and_never_raised(self):
        for background in (False, True):
            with (
                self.subTest(background=background),
                override_settings(TASKS_IN_BACKGROUND=background),
                mock.patch("zappa.asynchronous.run", side_effect=RuntimeError("refused")),
            ):
                with self.assertLogs("app.tasks", "ERROR") as logged:
                    tasks.defer(explode, email="user@example.com")
                self.assertIn(
                    "The task tests.app_tests.test_tasks.explode failed", logged.output[0]
                )


ARGUMENTS = {"email": "user@example.com", "base_url": "https://api.example.com/dev"}


class EventInvocationTests(SimpleTestCase):
    """What ``defer`` asks of Lambda, as Lambda would receive it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # As on Lambda: the function's name and region, dummy credentials, and no AWS host.
        environment = {
            **aws_environment(),
            "AWS_LAMBDA_FUNCTION_NAME": LambdaContext.function_name,
        }
        cls.enterClassContext(mock.patch.dict(os.environ, environment))
        cls.refused = cls.enterClassContext(aws_only_at(None))

    def setUp(self):
        calls.clear()
        self.sent = self.enterContext(async_invocations())

    def tearDown(self):
        self.assertEqual(self.refused, [])

    @override_settings(TASKS_IN_BACKGROUND=True)
    def test_a_task_is_one_event_invocation_of_the_function_itself_naming_it_and_its_arguments(
        self,
    ):
        tasks.defer(record, **ARGUMENTS)
        [invocation] = self.sent
        self.assertEqual(invocation["FunctionName"], LambdaContext.function_name)
        self.assertEqual(invocation["InvocationType"], "Event")
        self.assertEqual(
            json.loads(invocation["Payload"]),
            {
                "command": "zappa.asynchronous.route_lambda_task",
                "task_path": "tests.app_tests.test_tasks.record",
                "args": [],
                "kwargs": ARGUMENTS,
                "capture_response": False,
                "response_id": None,
            },
        )

    @override_settings(TASKS_IN_BACKGROUND=True)
    def test_zappas_router_runs_the_invocations_payload_as_the_call_it_stands_for(self):
        from zappa.asynchronous import route_lambda_task

        tasks.defer(record, **ARGUMENTS)
        [invocation] = self.sent
        route_lambda_task(json.loads(invocation["Payload"]), LambdaContext())
        self.assertEqual(calls, [ARGUMENTS])

    def test_arguments_json_cannot_carry_are_refused_in_either_mode_and_nothing_runs(self):
        for background in (False, True):
            with (
                self.subTest(background=background),
                self.settings(TASKS_IN_BACKGROUND=background),
                self.assertLogs("app.tasks", "ERROR") as logged,
            ):
                tasks.defer(record, when=datetime.now(UTC))
            self.assertIn("is not JSON serializable", "\n".join(logged.output))
            self.assertEqual((calls, self.sent), ([], []))

    def test_a_function_no_invocation_could_name_is_refused_in_either_mode(self):
        def nested(**kwargs):
            calls.append(kwargs)

        cases = {"a nested function": nested, "a lambda": lambda **kwargs: None}
        for background in (False, True):
            for label, function in cases.items():
                with (
                    self.subTest(label, background=background),
                    self.settings(TASKS_IN_BACKGROUND=background),
                    self.assertLogs("app.tasks", "ERROR") as logged,
                ):
                    tasks.defer(function, **ARGUMENTS)
                self.assertIn("not a module-level function", "\n".join(logged.output))
                self.assertEqual((calls, self.sent), ([], []))
