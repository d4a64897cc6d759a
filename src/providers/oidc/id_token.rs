//! Checking a JWT from the provider (an ID token, or a back-channel logout token): the signature
//! over the provider's published key named by `kid`, with `ring` (already built for TLS), and the
//! claims every such token must carry right. Only asymmetric algorithms are accepted: `none` and
//! the HMAC ones (keyed by the client secret) never.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Seconds of clock difference allowed between Keyport and the provider.
pub const LEEWAY_SECONDS: i64 = 60;
/// How old an ID token's `iat` may be when it is first seen (it was just issued).
pub const MAX_AGE_SECONDS: i64 = 600;

/// A key of the provider's JWKS.
#[derive(Clone, Debug, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// Why a token was refused; the message is for the page and the log, never holds the token.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct Refused(pub String);

fn refused(message: impl Into<String>) -> Refused {
    Refused(message.into())
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// A compact JWS split and decoded, not yet checked.
pub struct Parsed {
    pub alg: String,
    pub kid: Option<String>,
    signing_input: String,
    signature: Vec<u8>,
    pub claims: Map<String, Value>,
}

pub fn parse(token: &str) -> Result<Parsed, Refused> {
    let malformed = || refused("The provider's token is not a signed JWT.");
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or_else(malformed)?;
    let claims: Map<String, Value> = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|p| serde_json::from_slice(&p).ok())
        .ok_or_else(malformed)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| malformed())?;
    Ok(Parsed {
        alg: header.alg,
        kid: header.kid,
        signing_input: token[..token.rfind('.').unwrap_or(0)].to_string(),
        signature,
        claims,
    })
}

/// Whether Keyport verifies this algorithm at all.
pub fn supported(alg: &str) -> bool {
    matches!(
        alg,
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" | "ES256" | "ES384" | "EdDSA"
    )
}

/// The keys of `set` that may have signed a token of `alg` with `kid`.
pub fn candidates<'a>(set: &'a JwkSet, alg: &str, kid: Option<&str>) -> Vec<&'a Jwk> {
    let kty = match alg {
        "ES256" | "ES384" => "EC",
        "EdDSA" => "OKP",
        _ => "RSA",
    };
    set.keys
        .iter()
        .filter(|k| k.kty == kty)
        .filter(|k| k.use_.as_deref().is_none_or(|u| u == "sig"))
        .filter(|k| k.alg.as_deref().is_none_or(|a| a == alg))
        .filter(|k| match kid {
            Some(kid) => k.kid.as_deref() == Some(kid),
            None => true,
        })
        .collect()
}

fn b64(value: &Option<String>) -> Option<Vec<u8>> {
    value
        .as_deref()
        .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
}

/// Whether `key` signed the token.
pub fn signed_by(parsed: &Parsed, key: &Jwk) -> bool {
    let message = parsed.signing_input.as_bytes();
    let signature = parsed.signature.as_slice();
    let rsa = |params: &'static signature::RsaParameters| {
        let (Some(n), Some(e)) = (b64(&key.n), b64(&key.e)) else {
            return false;
        };
        RsaPublicKeyComponents { n, e }
            .verify(params, message, signature)
            .is_ok()
    };
    let ec = |params: &'static signature::EcdsaVerificationAlgorithm, curve: &str| {
        let (Some(x), Some(y)) = (b64(&key.x), b64(&key.y)) else {
            return false;
        };
        if key.crv.as_deref() != Some(curve) {
            return false;
        }
        let point = [&[4u8][..], &x, &y].concat();
        UnparsedPublicKey::new(params, point)
            .verify(message, signature)
            .is_ok()
    };
    match parsed.alg.as_str() {
        "RS256" => rsa(&signature::RSA_PKCS1_2048_8192_SHA256),
        "RS384" => rsa(&signature::RSA_PKCS1_2048_8192_SHA384),
        "RS512" => rsa(&signature::RSA_PKCS1_2048_8192_SHA512),
        "PS256" => rsa(&signature::RSA_PSS_2048_8192_SHA256),
        "PS384" => rsa(&signature::RSA_PSS_2048_8192_SHA384),
        "PS512" => rsa(&signature::RSA_PSS_2048_8192_SHA512),
        "ES256" => ec(&signature::ECDSA_P256_SHA256_FIXED, "P-256"),
        "ES384" => ec(&signature::ECDSA_P384_SHA384_FIXED, "P-384"),
        "EdDSA" => {
            key.crv.as_deref() == Some("Ed25519")
                && b64(&key.x).is_some_and(|x| {
                    UnparsedPublicKey::new(&signature::ED25519, x)
                        .verify(message, signature)
                        .is_ok()
                })
        }
        _ => false,
    }
}

/// What a token's claims must say, besides what every token of the provider says (`iss`, `aud`).
pub struct Expect<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// The sign-in's nonce; `None` for tokens that carry none (refresh, logout).
    pub nonce: Option<&'a str>,
    /// The subject the token must be about (a refresh or a step-up of a known account).
    pub subject: Option<&'a str>,
    /// The provider must have authenticated the user at or after this time (step-up).
    pub authenticated_since: Option<i64>,
    pub now: i64,
}

fn number(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    claims.get(name).and_then(Value::as_i64)
}

/// Checks what every token of the provider says, an ID token or a logout token: `iss`, `aud`
/// and `azp`, `iat`, and `exp` when the token has one.
fn check_issued(
    claims: &Map<String, Value>,
    issuer: &str,
    client_id: &str,
    now: i64,
) -> Result<(), Refused> {
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(refused(
            "The ID token was not issued by the configured provider (iss).",
        ));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&client_id) {
        return Err(refused(
            "The ID token was issued for another application (aud).",
        ));
    }
    let azp = claims.get("azp").and_then(Value::as_str);
    if (audiences.len() > 1 || azp.is_some()) && azp != Some(client_id) {
        return Err(refused(
            "The ID token was issued for another application (azp).",
        ));
    }
    // Optional in a logout token; when present, in every token, a time not passed.
    if let Some(exp) = claims.get("exp") {
        let exp = exp
            .as_i64()
            .ok_or_else(|| refused("The ID token's expiry is not a time (exp)."))?;
        if exp + LEEWAY_SECONDS <= now {
            return Err(refused("The ID token has expired (exp)."));
        }
    }
    let iat =
        number(claims, "iat").ok_or_else(|| refused("The ID token has no time of issue (iat)."))?;
    if iat > now + LEEWAY_SECONDS || iat < now - MAX_AGE_SECONDS {
        return Err(refused(
            "The ID token's time of issue is not now (iat): check the clocks of Keyport and the provider.",
        ));
    }
    Ok(())
}

/// Checks an ID token: what every token says ([`check_issued`]), then `exp` (required here),
/// `nonce`, `sub` and `auth_time`.
pub fn check_claims(claims: &Map<String, Value>, expect: &Expect<'_>) -> Result<(), Refused> {
    check_issued(claims, expect.issuer, expect.client_id, expect.now)?;
    if !claims.contains_key("exp") {
        return Err(refused("The ID token has no expiry (exp)."));
    }
    if let Some(nonce) = expect.nonce {
        let given = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            given.as_bytes(),
            nonce.as_bytes(),
        )) {
            return Err(refused(
                "The ID token does not belong to this sign-in (nonce).",
            ));
        }
    }
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    if sub.is_empty() {
        return Err(refused("The ID token names no user (sub)."));
    }
    if let Some(subject) = expect.subject
        && sub != subject
    {
        return Err(refused(
            "The provider answered for another account than the one signed in (sub).",
        ));
    }
    if let Some(since) = expect.authenticated_since {
        let auth_time = number(claims, "auth_time").unwrap_or(0);
        if auth_time + LEEWAY_SECONDS < since {
            return Err(refused(
                "The provider did not ask you to sign in again (auth_time).",
            ));
        }
    }
    Ok(())
}

/// Checks a back-channel logout token (OpenID Connect Back-Channel Logout 1.0, 2.6): what every
/// token says ([`check_issued`]; its `exp` is optional), the logout event, a `sub` or a `sid`,
/// and no `nonce`.
pub fn check_logout_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    client_id: &str,
    now: i64,
) -> Result<(), Refused> {
    check_issued(claims, issuer, client_id, now)?;
    let event = claims
        .get("events")
        .and_then(|e| e.get("http://schemas.openid.net/event/backchannel-logout"));
    if !event.is_some_and(Value::is_object) {
        return Err(refused("The logout token carries no logout event."));
    }
    if claims.contains_key("nonce") {
        return Err(refused("A logout token carries no nonce."));
    }
    let has = |name| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .is_some_and(|v| !v.is_empty())
    };
    if !has("sub") && !has("sid") {
        return Err(refused(
            "The logout token names neither a user nor a session.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::{
        rand::SystemRandom,
        signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
    };
    use serde_json::json;

    fn es256_key() -> (EcdsaKeyPair, Jwk) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = pair.public_key().as_ref();
        let jwk: Jwk = serde_json::from_value(json!({
            "kty": "EC", "kid": "k1", "crv": "P-256", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }))
        .unwrap();
        (pair, jwk)
    }

    fn sign(pair: &EcdsaKeyPair, header: Value, claims: Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }

    fn expect(now: i64) -> Expect<'static> {
        Expect {
            issuer: "https://id.example.org",
            client_id: "keyport",
            nonce: Some("n-1"),
            subject: None,
            authenticated_since: None,
            now,
        }
    }

    fn claims(now: i64) -> Value {
        json!({"iss": "https://id.example.org", "aud": "keyport", "sub": "u1",
               "exp": now + 300, "iat": now, "nonce": "n-1", "auth_time": now})
    }

    #[test]
    fn a_token_signed_by_the_published_key_verifies_and_no_other() {
        let (pair, jwk) = es256_key();
        let (other, _) = es256_key();
        let set = JwkSet { keys: vec![jwk] };
        let header = json!({"alg": "ES256", "kid": "k1"});
        let good = parse(&sign(&pair, header.clone(), claims(1000))).unwrap();
        let keys = candidates(&set, &good.alg, good.kid.as_deref());
        assert_eq!(keys.len(), 1);
        assert!(signed_by(&good, keys[0]));
        let forged = parse(&sign(&other, header, claims(1000))).unwrap();
        assert!(!signed_by(&forged, keys[0]));
        // The same key under another algorithm's name is not a candidate.
        assert!(candidates(&set, "RS256", Some("k1")).is_empty());
        assert!(!supported("none") && !supported("HS256"));
    }

    #[test]
    fn each_wrong_claim_is_refused_with_its_name() {
        let now = 10_000;
        let check = |change: &dyn Fn(&mut Map<String, Value>)| {
            let mut c = claims(now).as_object().unwrap().clone();
            change(&mut c);
            check_claims(&c, &expect(now)).map_err(|e| e.0)
        };
        assert_eq!(check(&|_| {}), Ok(()));
        type Change<'a> = &'a dyn Fn(&mut Map<String, Value>);
        let cases: [(&str, Change); 9] = [
            ("(iss)", &|c| {
                drop(c.insert("iss".into(), json!("https://evil")))
            }),
            ("(aud)", &|c| drop(c.insert("aud".into(), json!("other")))),
            ("(azp)", &|c| {
                c.insert("aud".into(), json!(["keyport", "other"]));
            }),
            ("(exp)", &|c| drop(c.insert("exp".into(), json!(now - 61)))),
            ("(exp)", &|c| {
                drop(c.insert("exp".into(), json!("tomorrow")))
            }),
            ("(exp)", &|c| drop(c.remove("exp"))),
            ("(iat)", &|c| drop(c.insert("iat".into(), json!(now + 600)))),
            ("(nonce)", &|c| drop(c.insert("nonce".into(), json!("n-2")))),
            ("(sub)", &|c| drop(c.remove("sub"))),
        ];
        for (name, change) in cases {
            let refusal = check(change).expect_err(name);
            assert!(refusal.contains(name), "{name}: {refusal}");
        }
        let mut stepped = expect(now);
        stepped.authenticated_since = Some(now + 120);
        let refusal = check_claims(claims(now).as_object().unwrap(), &stepped).unwrap_err();
        assert!(refusal.0.contains("auth_time"));
    }

    #[test]
    fn a_logout_token_is_the_providers_has_its_event_and_no_nonce() {
        let now = 10_000;
        let check = |change: &dyn Fn(&mut Map<String, Value>)| {
            let mut c = json!({
                "iss": "https://id.example.org", "aud": "keyport", "iat": now, "sub": "u1",
                "events": {"http://schemas.openid.net/event/backchannel-logout": {}}})
            .as_object()
            .unwrap()
            .clone();
            change(&mut c);
            check_logout_claims(&c, "https://id.example.org", "keyport", now).map_err(|e| e.0)
        };
        // No `exp`: it is optional in a logout token.
        assert_eq!(check(&|_| {}), Ok(()));
        assert_eq!(
            check(&|c| drop(c.insert("exp".into(), json!(now + 60)))),
            Ok(())
        );
        assert_eq!(
            check(&|c| drop(c.remove("sub"))),
            Err("The logout token names neither a user nor a session.".into())
        );
        assert_eq!(
            check(&|c| {
                c.remove("sub");
                c.insert("sid".into(), json!("s1"));
            }),
            Ok(())
        );
        type Change<'a> = &'a dyn Fn(&mut Map<String, Value>);
        let cases: [(&str, Change); 7] = [
            ("(iss)", &|c| {
                drop(c.insert("iss".into(), json!("https://evil")))
            }),
            ("(aud)", &|c| drop(c.insert("aud".into(), json!("other")))),
            ("(exp)", &|c| drop(c.insert("exp".into(), json!(now - 61)))),
            ("(exp)", &|c| {
                drop(c.insert("exp".into(), json!("tomorrow")))
            }),
            ("(iat)", &|c| drop(c.remove("iat"))),
            ("nonce", &|c| drop(c.insert("nonce".into(), json!("x")))),
            ("logout event", &|c| drop(c.remove("events"))),
        ];
        for (name, change) in cases {
            let refusal = check(change).expect_err(name);
            assert!(refusal.contains(name), "{name}: {refusal}");
        }
    }
}
