#!/usr/bin/env bash
# create-state-bucket.sh BUCKET REGION: creates the S3 bucket that holds Terraform state (once per
# account): versioned, encrypted, private, TLS only. Locking uses S3 itself (use_lockfile), so no
# DynamoDB table is needed. Then: terraform init -backend-config="bucket=BUCKET" -backend-config="region=REGION"
set -euo pipefail
bucket=${1:?usage: create-state-bucket.sh BUCKET REGION}
region=${2:?usage: create-state-bucket.sh BUCKET REGION}

if aws s3api head-bucket --bucket "$bucket" 2>/dev/null; then
    echo "bucket $bucket exists"
else
    if [ "$region" = "us-east-1" ]; then
        aws s3api create-bucket --bucket "$bucket" --region "$region"
    else
        aws s3api create-bucket --bucket "$bucket" --region "$region" \
            --create-bucket-configuration "LocationConstraint=$region"
    fi
fi
aws s3api put-bucket-versioning --bucket "$bucket" --versioning-configuration Status=Enabled
aws s3api put-bucket-encryption --bucket "$bucket" --server-side-encryption-configuration \
    '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms"},"BucketKeyEnabled":true}]}'
aws s3api put-public-access-block --bucket "$bucket" --public-access-block-configuration \
    BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
aws s3api put-bucket-policy --bucket "$bucket" --policy "$(cat <<POLICY
{"Version":"2012-10-17","Statement":[{"Sid":"DenyInsecureTransport","Effect":"Deny","Principal":"*",
"Action":"s3:*","Resource":["arn:aws:s3:::$bucket","arn:aws:s3:::$bucket/*"],
"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}
POLICY
)"
echo "state bucket $bucket ready in $region"
