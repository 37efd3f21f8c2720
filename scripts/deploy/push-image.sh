#!/usr/bin/env bash
# push-image.sh SERVICE: builds the SERVICE image (Dockerfile target) tagged with the commit SHA,
# pushes it to the environment's ECR repository `task-platform/SERVICE`, and writes `image=...` to
# $GITHUB_OUTPUT. Needs AWS credentials (OIDC) and AWS_REGION.
set -euo pipefail
service=${1:?usage: push-image.sh api|task-runner|dora}
case "$service" in api | task-runner | dora) ;; *) echo "unknown service $service" >&2; exit 2 ;; esac
account=$(aws sts get-caller-identity --query Account --output text)
registry="${account}.dkr.ecr.${AWS_REGION}.amazonaws.com"
image="${registry}/task-platform/${service}:${GITHUB_SHA:?}"

aws ecr get-login-password --region "$AWS_REGION" | docker login --username AWS --password-stdin "$registry"
# Tags are immutable: a re-run of the same commit reuses the pushed image.
if aws ecr describe-images --repository-name "task-platform/${service}" --image-ids "imageTag=${GITHUB_SHA}" >/dev/null 2>&1; then
    echo "image $image exists"
else
    docker build --target "$service" --tag "$image" .
    docker push "$image"
fi
echo "image=${image}" >> "${GITHUB_OUTPUT:-/dev/stdout}"
