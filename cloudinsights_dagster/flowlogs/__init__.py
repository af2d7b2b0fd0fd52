"""VPC flow logs, Dagster-free: object keys, S3 notifications, the SQS queue, record formats."""
