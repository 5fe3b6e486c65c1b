"""What the tests share with each other, and with the local tools that stand in for AWS
(``scripts/lambda-serve``, the cold-start benchmark): never imported by the product."""

# A password Django's validators accept, for every account a test or a tool makes.
PASSWORD = "correct-horse-battery"
