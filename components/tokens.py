"""Pulumi type tokens of the resources, invokes and components this project creates or reads.

The policy rules, offline synth (mocks and tree), ``dsctl check``/``diff`` and the local environment all select
resources by these tokens; declaring them once means a provider rename is one edit, and a typo is a NameError
instead of a rule that silently matches nothing.
"""

from __future__ import annotations

# --- pulumi-aws resources
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
BUCKET_SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
BUCKET_LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BUCKET_REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
KMS_KEY = "aws:kms/key:Key"
KMS_ALIAS = "aws:kms/alias:Alias"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
MANAGED_POLICY = "aws:iam/policy:Policy"
POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
USER_POLICY = "aws:iam/userPolicy:UserPolicy"
GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
PARAMETER = "aws:ssm/parameter:Parameter"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
CLUSTER = "aws:ecs/cluster:Cluster"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
TOPIC_SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
ECR_REPOSITORY = "aws:ecr/repository:Repository"
ECR_REPOSITORY_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
ECR_LIFECYCLE_POLICY = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
ECR_REGISTRY_POLICY = "aws:ecr/registryPolicy:RegistryPolicy"
ECR_REPLICATION = "aws:ecr/replicationConfiguration:ReplicationConfiguration"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
OIDC_PROVIDER = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
ACCOUNT_PUBLIC_ACCESS_BLOCK = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
TRAIL = "aws:cloudtrail/trail:Trail"
ACCESS_ANALYZER = "aws:accessanalyzer/analyzer:Analyzer"
LOG_METRIC_FILTER = "aws:cloudwatch/logMetricFilter:LogMetricFilter"

# --- pulumi-aws invokes (data sources)
GET_CALLER_IDENTITY = "aws:index/getCallerIdentity:getCallerIdentity"
GET_PARTITION = "aws:index/getPartition:getPartition"
GET_REGION = "aws:index/getRegion:getRegion"
GET_VPC = "aws:ec2/getVpc:getVpc"
GET_SUBNETS = "aws:ec2/getSubnets:getSubnets"
GET_SUBNET = "aws:ec2/getSubnet:getSubnet"
GET_AUTHORIZATION_TOKEN = "aws:ecr/getAuthorizationToken:getAuthorizationToken"
GET_ECR_IMAGES = "aws:ecr/getImages:getImages"

# --- other providers and the engine
DOCKER_IMAGE = "docker:index/image:Image"
AWS_PROVIDER = "pulumi:providers:aws"
DOCKER_PROVIDER = "pulumi:providers:docker"
PROVIDER_PREFIX = "pulumi:providers:"
STACK = "pulumi:pulumi:Stack"
STACK_REFERENCE = "pulumi:pulumi:StackReference"

# --- this project's component resources
SECURE_BUCKET_COMPONENT = "ds:storage:SecureBucket"
ARTIFACT_STORE_COMPONENT = "ds:storage:ArtifactStore"
CROSS_ACCOUNT_ACCESS_COMPONENT = "ds:access:CrossAccountAccess"
OPERATOR_ROLE_COMPONENT = "ds:access:OperatorRole"
CI_ACCESS_COMPONENT = "ds:access:CiAccess"
JOB_IMAGE_COMPONENT = "ds:runtime:JobImage"
JOB_TASK_COMPONENT = "ds:runtime:JobTask"
ORCHESTRATION_COMPONENT = "ds:runtime:Orchestration"
AUDIT_COMPONENT = "ds:audit:Audit"
