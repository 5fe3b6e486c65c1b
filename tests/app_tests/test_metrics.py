"""``app/metrics.py``: counts in a batch, written as one line of CloudWatch's Embedded Metric
Format, checked against its specification; nothing outside a batch. Through the Lambda entry
point (cold starts, 429s, 500s): ``tests/app_tests/test_aws.py``."""

import io
import json
import time
import unittest
from contextlib import redirect_stdout

from django.test import SimpleTestCase, override_settings

from app import metrics


def assert_valid_emf(test, document):
    """Check ``document`` against the Embedded Metric Format specification: ``_aws`` with an
    integer millisecond ``Timestamp`` and directives whose dimensions and metrics name
    top-level keys, numeric values, valid units, within the limits.
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
    """
    metadata = document["_aws"]
    test.assertIsInstance(metadata["Timestamp"], int)
    test.assertLess(abs(metadata["Timestamp"] - time.time() * 1000), 60_000)
    test.assertTrue(metadata["CloudWatchMetrics"])
    for directive in metadata["CloudWatchMetrics"]:
        test.assertTrue(1 <= len(directive["Namespace"]) <= 255)
        for dimension_set in directive["Dimensions"]:
            test.assertLessEqual(len(dimension_set), 30)
            for dimension in dimension_set:
                test.assertIsInstance(document[dimension], str)
        test.assertTrue(1 <= len(directive["Metrics"]) <= 100)
        for metric in directive["Metrics"]:
            test.assertTrue(1 <= len(metric["Name"]) <= 255)
            test.assertIn(metric.get("Unit", "None"), EMF_UNITS)
            value = document[metric["Name"]]
            test.assertTrue(isinstance(value, (int, float)) and not isinstance(value, bool))


# The units the specification allows (CloudWatch's StandardUnit).
EMF_UNITS = {
    *("Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes"),
    *("Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits"),
    *("Percent", "Count", "Bytes/Second", "Kilobytes/Second", "Megabytes/Second"),
    *("Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second"),
    *("Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"),
}


@override_settings(METRICS_NAMESPACE="AuthApiTest", SERVICE_NAME="auth-api-test")
class BatchTests(SimpleTestCase):
    def written(self, counting):
        with redirect_stdout(io.StringIO()) as stdout:
            with metrics.batch():
                counting()
        return [json.loads(line) for line in stdout.getvalue().splitlines()]

    def test_a_batch_writes_one_valid_line_with_each_metrics_total(self):
        def counting():
            metrics.count(metrics.LOGIN_FAILED)
            metrics.count(metrics.LOGIN_FAILED)
            metrics.count(metrics.LOGIN_SUCCEEDED)

        [document] = self.written(counting)
        assert_valid_emf(self, document)
        [directive] = document["_aws"]["CloudWatchMetrics"]
        self.assertEqual(directive["Namespace"], "AuthApiTest")
        self.assertEqual(directive["Dimensions"], [["service"]])
        self.assertEqual(
            directive["Metrics"],
            [{"Name": "LoginFailed", "Unit": "Count"}, {"Name": "LoginSucceeded", "Unit": "Count"}],
        )
        self.assertEqual(document["service"], "auth-api-test")
        self.assertEqual((document["LoginFailed"], document["LoginSucceeded"]), (2, 1))

    def test_a_batch_that_counted_nothing_writes_nothing(self):
        self.assertEqual(self.written(lambda: None), [])

    def test_a_batch_inside_a_batch_adds_to_it(self):
        def counting():
            metrics.count(metrics.REFRESHES)
            with metrics.batch():
                metrics.count(metrics.REFRESHES, 2)

        [document] = self.written(counting)
        self.assertEqual(document["Refreshes"], 3)

    def test_more_than_100_metrics_go_into_directives_of_100_at_most(self):
        def counting():
            for number in range(150):
                metrics.count(f"Metric{number:03}")

        [document] = self.written(counting)
        assert_valid_emf(self, document)
        self.assertEqual(
            [len(d["Metrics"]) for d in document["_aws"]["CloudWatchMetrics"]], [100, 50]
        )

    def test_a_count_outside_any_batch_is_dropped(self):
        with redirect_stdout(io.StringIO()) as stdout:
            for _ in range(1000):
                metrics.count(metrics.THROTTLED)
        self.assertEqual(stdout.getvalue(), "")
        self.assertIsNone(metrics._batch.get())


class NameTests(unittest.TestCase):
    def test_the_metric_names_are_the_dashboards(self):
        names = {
            metrics.LOGIN_SUCCEEDED: "LoginSucceeded",
            metrics.LOGIN_FAILED: "LoginFailed",
            metrics.LOGIN_THROTTLED: "LoginThrottled",
            metrics.REFRESHES: "Refreshes",
            metrics.REFRESH_TOKEN_REUSED: "RefreshTokenReused",
            metrics.THROTTLED: "Throttled",
            metrics.SERVER_ERRORS: "ServerErrors",
            metrics.COLD_START: "ColdStart",
        }
        for constant, name in names.items():
            with self.subTest(name):
                self.assertEqual(constant, name)
