//! A minimal HTTP/1.1 keep-alive client for the load phase: one connection
//! per worker, requests written from a reused buffer, responses read just far
//! enough to know their status and skip their body. The load generator shares
//! the 2 cores with the server it measures, so every microsecond it spends per
//! request is one the server cannot use; a general client (reqwest) costs
//! several times more per request than this.

use std::io;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Response heads longer than this are refused: ours are a few hundred bytes.
const HEAD_LEN_MAX: usize = 16 << 10;
/// Bodies longer than this are refused: the load phase reads small answers.
const BODY_LEN_MAX: usize = 8 << 20;

pub struct Connection {
    stream: TcpStream,
    host: String,
    authorization: String,
    request: Vec<u8>,
    /// Bytes read and not yet consumed (a response's tail never spills into
    /// the next one, since requests are not pipelined, but reads may split).
    received: Vec<u8>,
}

impl Connection {
    /// `addr` as `host:port`.
    pub async fn open(addr: &str, token: &str) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            host: addr.to_owned(),
            authorization: format!("Bearer {token}"),
            request: Vec::with_capacity(1024),
            received: Vec::with_capacity(4096),
        })
    }

    /// Sends one request and reads its whole response; returns the status.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        idempotency_key: Option<&str>,
        json_body: Option<&str>,
    ) -> anyhow::Result<u16> {
        use std::io::Write;
        self.request.clear();
        write!(
            self.request,
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nauthorization: {}\r\n",
            self.host, self.authorization
        )?;
        if let Some(key) = idempotency_key {
            write!(self.request, "idempotency-key: {key}\r\n")?;
        }
        match json_body {
            Some(body) => write!(
                self.request,
                "content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )?,
            None => self.request.extend_from_slice(b"\r\n"),
        }
        self.stream.write_all(&self.request).await?;
        self.read_response().await
    }

    async fn read_response(&mut self) -> anyhow::Result<u16> {
        self.received.clear();
        let head_len = loop {
            if let Some(at) = find(&self.received, b"\r\n\r\n") {
                break at + 4;
            }
            if self.received.len() > HEAD_LEN_MAX {
                bail!("response head over {HEAD_LEN_MAX} bytes");
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.received[..head_len]).context("response head")?;
        let status: u16 = head
            .get(9..12)
            .and_then(|code| code.parse().ok())
            .with_context(|| format!("no status in {head:?}"))?;
        let mut content_length = None;
        for line in head.split("\r\n").skip(1) {
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = Some(value.trim().parse::<usize>()?);
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    bail!("chunked responses are not expected here");
                }
            }
        }
        let body_len = content_length.context("response without content-length")?;
        if body_len > BODY_LEN_MAX {
            bail!("response body over {BODY_LEN_MAX} bytes");
        }
        while self.received.len() < head_len + body_len {
            self.fill().await?;
        }
        if self.received.len() > head_len + body_len {
            bail!("the server sent more than one response");
        }
        Ok(status)
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        self.received.reserve(4096);
        let read = self.stream.read_buf(&mut self.received).await?;
        if read == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::Connection;

    /// Serves `responses` in order, one per request, each written in pieces
    /// of `piece` bytes so the client must put them together.
    async fn serve(responses: Vec<&'static [u8]>, piece: usize) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut request = [0u8; 4096];
            for response in responses {
                let _ = socket.read(&mut request).await.expect("request");
                for part in response.chunks(piece) {
                    socket.write_all(part).await.expect("write");
                    socket.flush().await.expect("flush");
                    tokio::task::yield_now().await;
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn responses_split_across_reads_are_read_whole_on_one_connection() {
        let addr = serve(
            vec![
                b"HTTP/1.1 201 Created\r\ncontent-length: 5\r\n\r\nhello",
                b"HTTP/1.1 409 Conflict\r\nContent-Length: 2\r\n\r\n{}",
            ],
            3,
        )
        .await;
        let mut connection = Connection::open(&addr, "t").await.expect("open");
        let first = connection
            .send("POST", "/v1/donations", Some("k1"), Some("{}"))
            .await
            .expect("first");
        let second = connection
            .send("GET", "/v1/funds", None, None)
            .await
            .expect("second");
        assert_eq!((first, second), (201, 409));
    }

    #[tokio::test]
    async fn a_response_without_its_length_is_an_error_not_a_guess() {
        let addr = serve(
            vec![b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"],
            64,
        )
        .await;
        let mut connection = Connection::open(&addr, "t").await.expect("open");
        let outcome = connection.send("GET", "/v1/funds", None, None).await;
        assert!(outcome.is_err(), "{outcome:?}");
    }
}
