//! Who the client is, by address: the connecting address, or, when that is a trusted reverse
//! proxy (`--trusted-proxies`), the address its `Forwarded` or `X-Forwarded-For` header names.
//! The throttles and the audit log's "from" use it.

use std::{net::IpAddr, sync::Arc};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, header},
    middleware::Next,
    response::Response,
};
use forwarded_header_value::ForwardedHeaderValue;
use ipnet::IpNet;

/// The client's address, as [`layer`] decided it for the request.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddress(pub IpAddr);

/// Puts the request's [`ClientAddress`] in its extensions.
pub async fn layer(
    State(trusted): State<Arc<Vec<IpNet>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    if let Some(peer) = peer {
        let client = resolve(peer, request.headers(), &trusted);
        request.extensions_mut().insert(ClientAddress(client));
    }
    next.run(request).await
}

/// The client behind `peer`: walking the forwarding hops from the nearest, every hop a trusted
/// proxy added is believed, and the first address that is not a trusted proxy is the client.
/// A header that does not parse, or a hop that names no address, stops the walk there.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |address: IpAddr| trusted.iter().any(|n| n.contains(&address));
    let peer = peer.to_canonical();
    if !is_trusted(peer) {
        return peer;
    }
    let joined = |name: header::HeaderName| {
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    // `Forwarded` (RFC 7239) when present, else `X-Forwarded-For`; first hop first.
    let hops = if let Some(forwarded) = joined(header::FORWARDED) {
        ForwardedHeaderValue::from_forwarded(&forwarded)
    } else if let Some(forwarded_for) = joined(header::HeaderName::from_static("x-forwarded-for")) {
        ForwardedHeaderValue::from_x_forwarded_for(&forwarded_for)
    } else {
        return peer;
    };
    let Ok(hops) = hops else {
        return peer;
    };
    let mut client = peer;
    for hop in hops.iter().collect::<Vec<_>>().into_iter().rev() {
        let Some(address) = hop.forwarded_for_ip() else {
            return client;
        };
        client = address.to_canonical();
        if !is_trusted(client) {
            return client;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_addresses_are_believed_from_trusted_proxies_only() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        let xff = headers(&[("x-forwarded-for", "198.51.100.7")]);
        // Not from a proxy: the header is the client's own claim.
        assert_eq!(
            resolve(ip("203.0.113.9"), &xff, &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(resolve(ip("10.0.0.5"), &xff, &trusted), ip("198.51.100.7"));
        assert_eq!(resolve(ip("::1"), &xff, &trusted), ip("198.51.100.7"));
        // A client's forged first hop is skipped: the nearest untrusted hop is the client.
        let chain = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.0.0.6")]);
        assert_eq!(
            resolve(ip("10.0.0.5"), &chain, &trusted),
            ip("198.51.100.7")
        );
        // Several header lines are one list.
        let lines = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "198.51.100.8"),
        ]);
        assert_eq!(
            resolve(ip("10.0.0.5"), &lines, &trusted),
            ip("198.51.100.8")
        );
        // RFC 7239, with IPv6 and a port; it wins over X-Forwarded-For.
        let forwarded = headers(&[
            (
                "forwarded",
                r#"for="[2001:db8::7]:4711";proto=https, for=10.0.0.9"#,
            ),
            ("x-forwarded-for", "1.2.3.4"),
        ]);
        assert_eq!(
            resolve(ip("10.0.0.5"), &forwarded, &trusted),
            ip("2001:db8::7")
        );
        // Unparsable or obfuscated: the proxy itself.
        let garbage = headers(&[("x-forwarded-for", "not an address")]);
        assert_eq!(resolve(ip("10.0.0.5"), &garbage, &trusted), ip("10.0.0.5"));
        let hidden = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(resolve(ip("10.0.0.5"), &hidden, &trusted), ip("10.0.0.5"));
        // No proxy trusted: headers are never believed.
        assert_eq!(resolve(ip("10.0.0.5"), &xff, &[]), ip("10.0.0.5"));
    }
}
