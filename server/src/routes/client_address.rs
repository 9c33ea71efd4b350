//! Every request learns its client's address here, once: the peer's, or behind
//! the configured number of proxies (`server.proxy_hops`, 1 behind an ALB) the
//! one the farthest of them saw. Rate limits and the ranking use nothing else.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::Response,
};
use tweetgen_app::ssr::rate_limits::ClientAddress;

/// How many proxies in front of the server append to `X-Forwarded-For`.
#[derive(Clone, Copy, Debug)]
pub struct ProxyHops(pub usize);

pub async fn client_address(State(hops): State<ProxyHops>, mut request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip());
    let forwarded: Vec<&str> =
        request.headers().get_all("x-forwarded-for").iter().filter_map(|value| value.to_str().ok()).collect();
    let peer = peer.unwrap_or(std::net::Ipv6Addr::UNSPECIFIED.into());
    let address = ClientAddress::from_peer(peer, &forwarded, hops.0);
    request.extensions_mut().insert(address);
    next.run(request).await
}
