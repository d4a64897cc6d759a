"""IBM's own client against Keyport: ibm-cloud-sdk-core's IAMAuthenticator exchanges a Keyport API
key at PORTAL/identity/token and BaseService calls PORTAL/api/v1 with the token; PyJWT checks the
token's signature against PORTAL/identity/keys, as a third party would, offline from Keyport's code.

    python ibm_sdk_client.py works PORTAL SLUG     # KEYPORT_API_KEY in the environment
    python ibm_sdk_client.py refused PORTAL        # KEYPORT_API_KEY, KEYPORT_ACCESS_TOKEN

Prints one JSON object on standard output for the test to check; any surprise is an exception.
"""

import json
import os
import sys

import jwt
import requests
from ibm_cloud_sdk_core import ApiException, BaseService
from ibm_cloud_sdk_core.authenticators import BearerTokenAuthenticator, IAMAuthenticator


def projects(service):
    return service.send(service.prepare_request("GET", "/projects")).get_result()


def verify_offline(portal, token):
    """The token's claims, checked against the published keys (EdDSA only)."""
    jwks = jwt.PyJWKSet.from_dict(requests.get(portal + "/identity/keys", timeout=30).json())
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwks[kid]
    options = {"require": ["exp", "iat", "sub", "iss"]}
    claims = jwt.decode(token, key=key, algorithms=["EdDSA"], options=options)
    # The same check refuses the token once one character of its payload is changed.
    head, payload, signature = token.split(".")
    changed = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    try:
        jwt.decode(f"{head}.{changed}.{signature}", key=key, algorithms=["EdDSA"], options=options)
    except jwt.InvalidSignatureError:
        pass
    else:
        raise AssertionError("a changed token verified")
    return kid, claims, [k.key_id for k in jwks.keys]


def works(portal, slug):
    auth = IAMAuthenticator(apikey=os.environ["KEYPORT_API_KEY"], url=portal)
    service = BaseService(service_url=portal + "/api/v1", authenticator=auth)
    listed = [p["slug"] for p in projects(service)]
    assert slug in listed, listed
    first = auth.token_manager.access_token
    kid, claims, kids = verify_offline(portal, first)

    # As if the token had expired: the SDK exchanges the key again before the next call.
    auth.token_manager.expire_time = 0
    listed_again = [p["slug"] for p in projects(service)]
    assert slug in listed_again, listed_again
    assert auth.token_manager.expire_time > 0, "the SDK fetched and read a new token"
    second = auth.token_manager.access_token
    _, second_claims, _ = verify_offline(portal, second)
    return {
        "access_token": first,
        "kid": kid,
        "claims": claims,
        "second_claims": second_claims,
        "jwks_kids": kids,
    }


def refused(portal):
    answers = {}
    try:
        auth = IAMAuthenticator(apikey=os.environ["KEYPORT_API_KEY"], url=portal)
        projects(BaseService(service_url=portal + "/api/v1", authenticator=auth))
        answers["exchange"] = {"status": 200}
    except ApiException as e:
        answers["exchange"] = {"status": e.status_code, "message": e.message}
    try:
        auth = BearerTokenAuthenticator(os.environ["KEYPORT_ACCESS_TOKEN"])
        projects(BaseService(service_url=portal + "/api/v1", authenticator=auth))
        answers["bearer"] = {"status": 200}
    except ApiException as e:
        answers["bearer"] = {"status": e.status_code}
    return answers


def main():
    step, portal = sys.argv[1], sys.argv[2]
    if step == "works":
        answer = works(portal, sys.argv[3])
    elif step == "refused":
        answer = refused(portal)
    else:
        raise SystemExit(f"unknown step {step}")
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
