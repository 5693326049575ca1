"""Administers the test's S3 server (moto) with boto3, AWS's own SDK.

Reads {"endpoint", "credentials"?, "ops": [...]} as JSON on stdin and prints a JSON
list with one answer per op:
  {"op": "setup"}                                  -> {"access_key", "secret_key"}
      an IAM user allowed everything, and its keys (moto checks signatures once
      its initial unauthenticated actions are used up)
  {"op": "create_bucket", "bucket"}                -> {}
  {"op": "put", "bucket", "key", "body"}           -> {"etag"} (quotes removed)
  {"op": "put_dir", "bucket", "prefix", "dir"}     -> {"keys": {key: etag}}
  {"op": "delete", "bucket", "key"}                -> {}
"""
import json
import os
import sys

import boto3
from botocore.config import Config


def client(service, endpoint, credentials):
    keys = credentials or {"access_key": "admin", "secret_key": "admin"}
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=keys["access_key"],
        aws_secret_access_key=keys["secret_key"],
        config=Config(s3={"addressing_style": "path"}),
    )


def main():
    request = json.load(sys.stdin)
    endpoint, credentials = request["endpoint"], request.get("credentials")
    answers = []
    for op in request["ops"]:
        kind = op["op"]
        if kind == "setup":
            iam = client("iam", endpoint, None)
            iam.create_user(UserName="flux")
            key = iam.create_access_key(UserName="flux")["AccessKey"]
            iam.put_user_policy(
                UserName="flux",
                PolicyName="all",
                PolicyDocument=json.dumps({
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }),
            )
            credentials = {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}
            answers.append(credentials)
            continue
        s3 = client("s3", endpoint, credentials)
        if kind == "create_bucket":
            s3.create_bucket(Bucket=op["bucket"])
            answers.append({})
        elif kind == "put":
            put = s3.put_object(Bucket=op["bucket"], Key=op["key"], Body=op["body"].encode())
            answers.append({"etag": put["ETag"].strip('"')})
        elif kind == "put_dir":
            keys = {}
            for root, _, files in os.walk(op["dir"]):
                for name in sorted(files):
                    path = os.path.join(root, name)
                    key = op["prefix"] + os.path.relpath(path, op["dir"])
                    with open(path, "rb") as f:
                        put = s3.put_object(Bucket=op["bucket"], Key=key, Body=f.read())
                    keys[key] = put["ETag"].strip('"')
            answers.append({"keys": keys})
        elif kind == "delete":
            s3.delete_object(Bucket=op["bucket"], Key=op["key"])
            answers.append({})
        else:
            raise SystemExit(f"unknown op {kind}")
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
