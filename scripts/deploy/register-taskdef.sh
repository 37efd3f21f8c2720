#!/usr/bin/env bash
# register-taskdef.sh NAME: registers a revision of service NAME's current task definition with
# $IMAGE in NAME's container, and prints the new revision's ARN. Shared by deploy-api.sh and
# deploy-rolling.sh.
set -euo pipefail
: "${IMAGE:?}" "${TARGET:?}"
name=${1:?usage: register-taskdef.sh SERVICE_NAME}

current=$(aws ecs describe-services --cluster "task-platform-${TARGET}" --services "$name" \
    --query 'services[0].taskDefinition' --output text)
aws ecs describe-task-definition --task-definition "$current" --query taskDefinition > taskdef.json
jq --arg image "$IMAGE" --arg name "$name" '
    .containerDefinitions |= map(if .name == $name then .image = $image else . end)
    | del(.taskDefinitionArn, .revision, .status, .requiresAttributes, .compatibilities, .registeredAt, .registeredBy)' \
    taskdef.json > taskdef.new.json
aws ecs register-task-definition --cli-input-json file://taskdef.new.json \
    --query taskDefinition.taskDefinitionArn --output text
