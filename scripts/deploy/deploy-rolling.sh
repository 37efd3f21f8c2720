#!/usr/bin/env bash
# deploy-rolling.sh SERVICE (task-runner or dora): registers a task definition revision with
# $IMAGE and rolls the service onto it. The deployment circuit breaker stops a failing rollout and
# rolls back; this script waits for a steady state and fails if the service ended on another
# revision.
set -euo pipefail
: "${IMAGE:?}" "${TARGET:?}"
cluster="task-platform-${TARGET}"
service=${1:?usage: deploy-rolling.sh task-runner|dora}
name="task-platform-${TARGET}-${service}"

revision=$("$(dirname "$0")/register-taskdef.sh" "$name")
aws ecs update-service --cluster "$cluster" --service "$name" --task-definition "$revision" >/dev/null
echo "rolling $name to $revision"
aws ecs wait services-stable --cluster "$cluster" --services "$name"
now=$(aws ecs describe-services --cluster "$cluster" --services "$name" --query 'services[0].taskDefinition' --output text)
if [ "$now" != "$revision" ]; then
    echo "the circuit breaker rolled $name back to $now" >&2
    exit 1
fi
echo "$name runs $revision"
