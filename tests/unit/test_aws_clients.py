"""Clients on the shared model loader: one model and class per service per process, but never a
class that misses what a boto3 session adds to it (S3's transfer methods)."""

import boto3

from cloudinsights_dagster import aws


def test_clients_share_their_class_across_sessions_and_regions():
    a = aws.botocore_session().create_client("ec2", region_name="us-east-1")
    b = aws.botocore_session().create_client("ec2", region_name="eu-west-1")
    assert type(a) is type(b)
    assert a.meta.service_model is b.meta.service_model
    assert (a.meta.region_name, b.meta.region_name) == ("us-east-1", "eu-west-1")


def test_a_boto3_s3_client_keeps_its_transfer_methods():
    plain = aws.botocore_session().create_client("s3", region_name="us-east-1")
    assert not hasattr(plain, "upload_file")
    core = aws.botocore_session()
    s3 = boto3.Session(botocore_session=core, region_name="us-east-1").client("s3")
    assert hasattr(s3, "upload_file") and hasattr(s3, "download_fileobj")
