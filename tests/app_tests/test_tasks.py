"""``app/tasks.py``: work after the response, in the background on Lambda, else in-process."""

from unittest import mock

from django.test import SimpleTestCase, override_settings

from app import tasks

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
