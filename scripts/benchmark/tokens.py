"""The token path: signing and verifying an access token beside the same RSA operation done raw."""

from __future__ import annotations

import base64
import statistics
import time
import uuid
from collections.abc import Callable

from scripts.benchmark.plan import Plan, worker


def paired_us(ours: Callable[[], object], raw: Callable[[], object], iterations: int) -> tuple[float, float]:
    """Median microseconds of `ours` and of `raw`, measured alternately so that both meet the same noise."""
    for _ in range(max(5, iterations // 10)):
        ours()
        raw()
    ours_samples, raw_samples = [], []
    for _ in range(iterations):
        start = time.perf_counter()
        ours()
        middle = time.perf_counter()
        raw()
        end = time.perf_counter()
        ours_samples.append(middle - start)
        raw_samples.append(end - middle)
    return statistics.median(ours_samples) * 1e6, statistics.median(raw_samples) * 1e6


def measure_tokens(plan: Plan) -> dict[str, float]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from lib.security.keys import get_key_set
    from lib.security.tokens import create_access_token, decode_token

    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    token = create_access_token(user_id=user_id, role="user", session_id=session_id).token
    private_key = get_key_set().signing_key
    public_key = private_key.public_key()
    signing_input, _, signature_b64 = token.rpartition(".")
    message = signing_input.encode("ascii")
    signature = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
    sign, raw_sign = paired_us(
        lambda: create_access_token(user_id=user_id, role="user", session_id=session_id),
        lambda: private_key.sign(message, pkcs1, sha256),
        plan.token_iterations,
    )
    verify, raw_verify = paired_us(
        lambda: decode_token(token, "access"),
        lambda: public_key.verify(signature, message, pkcs1, sha256),
        plan.token_iterations * 4,
    )
    first = statistics.median(worker("first-sign")["first_sign_ms"] for _ in range(max(plan.runs, 1)))
    return {
        "sign_us": sign,
        "raw_sign_us": raw_sign,
        "sign_ratio": sign / raw_sign,
        "verify_us": verify,
        "raw_verify_us": raw_verify,
        "verify_ratio": verify / raw_verify,
        "first_sign_ms": first,
    }
