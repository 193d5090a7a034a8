//! `serve` on a real socket: it answers, passes the client's address to the handlers, and
//! returns soon after shutdown even while a live stream is open.

mod common;

use std::time::{Duration, Instant};

use common::App;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

async fn request(address: std::net::SocketAddr, text: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(text.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn serve_answers_and_stops_with_a_stream_open() {
    let app = App::local().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(lifeboat_web::serve(listener, app.router.clone(), shutdown.clone()));

    let mut page =
        request(address, "GET /api/v1/services HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await;
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), page.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"service\":\"tftp\""), "{answer}");

    let mut stream = request(address, "GET /api/v1/transfers/live/stream HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    let mut first = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut first)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).contains("text/event-stream"));

    let asked = Instant::now();
    shutdown.cancel();
    let result = tokio::time::timeout(Duration::from_secs(10), server).await.expect("serve returns").unwrap();
    result.unwrap();
    assert!(asked.elapsed() < Duration::from_secs(6), "took {:?}", asked.elapsed());
    assert!(TcpStream::connect(address).await.is_err(), "the port is closed");
}
