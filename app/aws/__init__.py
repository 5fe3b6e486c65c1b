"""What running on AWS Lambda needs, and nothing else does: the entry point
(``lambda_function``), the stage's secrets (``remote_env``), the event's environ, the init
phase and SnapStart hooks, and the scheduled events' targets. The accounts app knows none of it.
"""
