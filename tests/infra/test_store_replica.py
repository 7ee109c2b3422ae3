"""The store's replica as synthesized (dev: ``artifactReplicaRegion: us-west-2``).

moto does not replicate (and evaluates no bucket or key policy), so what replication copies, with which key and
under which policy is proven here from the synthesized resources, by ``dsctl check``'s ``store-replicated`` and
``store-models-immutable`` rules (tests/policy/test_rules.py, with broken fixtures) and by parliament
(tests/infra/test_iam_lint.py) on the replication role's policy.
"""

from __future__ import annotations

from typing import Any

from components.tokens import BUCKET, BUCKET_POLICY, BUCKET_REPLICATION, BUCKET_SSE, KMS_KEY, ROLE_POLICY
from dsctl.synth import SynthResult

DEV, PROD = "123456789012", "987654321098"
STORE = f"ds-artifacts-dev-{DEV}-us-east-1"
REPLICA = f"ds-artifacts-dev-{DEV}-us-west-2"


def _for_bucket(stack: SynthResult, token: str, bucket: str) -> dict[str, Any]:
    (match,) = [r.inputs for r in stack.of_type(token) if r.inputs["bucket"] == bucket]
    return match


def test_the_replica_is_a_hardened_bucket_in_the_replica_region_with_its_own_key(dev_stack: SynthResult) -> None:
    (bucket,) = [r for r in dev_stack.of_type(BUCKET) if r.id == REPLICA]
    assert bucket.inputs["region"] == "us-west-2"
    replica_key = dev_stack.outputs["artifactReplicaKmsKeyArn"]
    assert replica_key.startswith(f"arn:aws:kms:us-west-2:{DEV}:key/")
    assert replica_key != dev_stack.outputs["artifactKmsKeyArn"]
    sse = _for_bucket(dev_stack, BUCKET_SSE, REPLICA)["rules"][0]["applyServerSideEncryptionByDefault"]
    assert sse == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": replica_key}
    # Every setting of the replica is made in its region (pulumi-aws 7's per-resource region, one provider).
    children = [r for r in dev_stack.resources if r.inputs.get("bucket") == REPLICA]
    assert len(children) >= 6 and all(r.inputs.get("region") == "us-west-2" for r in children)
    assert dev_stack.outputs["artifactReplicaBucketName"] == REPLICA
    assert dev_stack.outputs["artifactReplicaRegion"] == "us-west-2"


def test_readers_are_granted_on_the_replica_and_its_key_in_advance(dev_stack: SynthResult) -> None:
    store = {s["Sid"]: s for s in _for_bucket(dev_stack, BUCKET_POLICY, STORE)["policy"]["Statement"]}
    replica = {s["Sid"]: s for s in _for_bucket(dev_stack, BUCKET_POLICY, REPLICA)["policy"]["Statement"]}
    assert set(replica) == set(store)  # the same write-once denies and reader grants
    assert replica["ReaderAccountsGetModels"]["Resource"] == [f"arn:aws:s3:::{REPLICA}/models/*"]
    assert replica["ReaderAccountsGetModels"]["Principal"] == {"AWS": [f"arn:aws:iam::{PROD}:root"]}
    assert replica["DenyModelDeletes"]["Resource"] == [f"arn:aws:s3:::{REPLICA}/models/*"]
    (key,) = [r for r in dev_stack.of_type(KMS_KEY) if r.inputs.get("region") == "us-west-2"]
    assert key.inputs["enableKeyRotation"] is True
    readers = {s["Sid"]: s for s in key.inputs["policy"]["Statement"]}["ReaderAccountsDecryptModelsThroughS3"]
    assert readers["Condition"]["StringEquals"] == {"kms:ViaService": "s3.us-west-2.amazonaws.com"}


def test_replication_copies_models_with_the_replica_key_and_never_delete_markers(dev_stack: SynthResult) -> None:
    config = _for_bucket(dev_stack, BUCKET_REPLICATION, STORE)
    (rule,) = config["rules"]
    assert rule["status"] == "Enabled" and rule["filter"] == {"prefix": "models/"}
    assert rule["deleteMarkerReplication"] == {"status": "Disabled"}
    assert rule["sourceSelectionCriteria"] == {"sseKmsEncryptedObjects": {"status": "Enabled"}}
    assert rule["destination"]["bucket"] == f"arn:aws:s3:::{REPLICA}"
    assert rule["destination"]["encryptionConfiguration"] == {
        "replicaKmsKeyId": dev_stack.outputs["artifactReplicaKmsKeyArn"]
    }
    role = config["role"].rsplit("/", 1)[-1]
    (policy,) = [r.inputs["policy"] for r in dev_stack.of_type(ROLE_POLICY) if r.inputs["role"] == role]
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert "s3:ReplicateDelete" not in actions and not any(a.endswith("*") for a in actions)
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["WriteReplicaModels"]["Resource"] == [f"arn:aws:s3:::{REPLICA}/models/*"]
    assert by_sid["EncryptWithReplicaKey"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.us-west-2.amazonaws.com"}
    }


def test_a_stack_without_replica_region_has_no_replica(prod_stack: SynthResult) -> None:
    assert not prod_stack.of_type(BUCKET_REPLICATION)
    assert "artifactReplicaBucketName" not in prod_stack.outputs
