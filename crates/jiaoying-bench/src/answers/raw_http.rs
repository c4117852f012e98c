//! A lean HTTP/1.1 keep-alive client for load generation, in the manner of `wrk`: requests are
//! built once as bytes, written whole, and the answer read by its `Content-Length`. A general
//! client (reqwest) costs several times more CPU a request, and here the load shares the two
//! cores with the service it measures.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `POST path` with a JSON body and extra headers, as the bytes that go on the wire.
pub fn post_json(path: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// One keep-alive connection.
pub struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Connection { stream, buf: Vec::with_capacity(4096) })
    }

    /// Sends one request and reads its answer: status and body.
    pub async fn exchange(&mut self, request: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
        self.stream.write_all(request).await?;
        loop {
            if let Some((status, start, len)) = parse_head(&self.buf)? {
                while self.buf.len() < start + len {
                    self.fill().await?;
                }
                let body = self.buf[start..start + len].to_vec();
                self.buf.drain(..start + len);
                return Ok((status, body));
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        let n = self.stream.read_buf(&mut self.buf).await?;
        anyhow::ensure!(n > 0, "the server closed the connection");
        Ok(())
    }
}

/// When `buf` holds a whole response head: (status, where the body starts, its length).
fn parse_head(buf: &[u8]) -> anyhow::Result<Option<(u16, usize, usize)>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { return Ok(None) };
    let head = std::str::from_utf8(&buf[..end])?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no status line in {head:?}"))?;
    let len = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no Content-Length in {head:?}"))?;
    Ok(Some((status, end + 4, len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_well_formed() {
        let r = post_json("/x", &[("X-A", "1")], "{}");
        assert_eq!(
            String::from_utf8(r).unwrap(),
            "POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nX-A: 1\r\n\r\n{}"
        );
    }

    #[test]
    fn heads_are_read_only_when_whole() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n").unwrap(), None);
        let r = b"HTTP/1.1 200 OK\r\ncontent-type: x\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(parse_head(r).unwrap(), Some((200, r.len() - 5, 5)));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }

    /// Against a real server: two exchanges on one connection.
    #[tokio::test]
    async fn keeps_the_connection_alive() {
        let app = axum::Router::new().route("/echo", axum::routing::post(|body: String| async move { body }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut c = Connection::open(addr).await.unwrap();
        for body in ["{\"a\":1}", "{\"b\":22}"] {
            let (status, got) = c.exchange(&post_json("/echo", &[], body)).await.unwrap();
            assert_eq!((status, got.as_slice()), (200, body.as_bytes()));
        }
    }
}
