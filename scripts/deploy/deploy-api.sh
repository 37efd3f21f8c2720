#!/usr/bin/env bash
# deploy-api.sh: registers a task definition revision with $IMAGE and deploys it blue/green through
# CodeDeploy, waiting for the result. CodeDeploy shifts traffic (canary 10% for 5 minutes) and rolls
# back by itself on failure or when a rollback alarm fires; this script then exits non-zero.
# Names follow terraform/main.tf: task-platform-$TARGET-api.
set -euo pipefail
: "${IMAGE:?}" "${TARGET:?}"
name="task-platform-${TARGET}-api"

revision=$("$(dirname "$0")/register-taskdef.sh" "$name")
echo "registered $revision"

appspec=$(jq -n --arg td "$revision" --arg name "$name" '{
    version: 1,
    Resources: [{TargetService: {Type: "AWS::ECS::Service", Properties: {
        TaskDefinition: $td,
        LoadBalancerInfo: {ContainerName: $name, ContainerPort: 8080}}}}]}')
revision_json=$(jq -n --arg content "$appspec" '{revisionType: "AppSpecContent", appSpecContent: {content: $content}}')
deployment=$(aws deploy create-deployment --application-name "$name" --deployment-group-name "$name" \
    --revision "$revision_json" --description "${GITHUB_SHA:-manual}" --query deploymentId --output text)
echo "CodeDeploy deployment $deployment"
if ! aws deploy wait deployment-successful --deployment-id "$deployment"; then
    aws deploy get-deployment --deployment-id "$deployment" \
        --query 'deploymentInfo.[status, errorInformation.message, rollbackInfo.rollbackMessage]' --output text
    exit 1
fi
echo "deployment $deployment succeeded"
