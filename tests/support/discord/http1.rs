//! A minimal HTTP/1.1 server side (httparse, already in serenity's tree): keep-alive,
//! content-length and chunked bodies. Enough for reqwest talking to the fake.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const MAX_HEAD: usize = 64 * 1024;

/// One request as read off the wire.
#[derive(Debug)]
pub struct RawRequest {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The client asked to close the connection after this exchange.
    pub close: bool,
}

impl RawRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An answer to write back.
#[derive(Debug, Default)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// Write nothing and hold the connection open until the client gives up and closes it.
    pub hang: bool,
}

/// A connection: read requests, answer each with `handle`, until the peer closes, asks to
/// close, or `handle` returns `None` (the connection is then dropped without an answer).
/// `wrote` is told when each answer's writing started, once it is written (the benches count
/// the fake's time).
pub async fn serve_connection(
    stream: TcpStream,
    mut handle: impl FnMut(RawRequest) -> Option<RawResponse>,
    wrote: impl Fn(std::time::Instant),
) {
    let mut stream = BufReader::new(stream);
    while let Ok(Some(request)) = read_request(&mut stream).await {
        let close = request.close;
        let Some(response) = handle(request) else {
            return;
        };
        if response.hang {
            // Until the peer closes (its timeout), reading nothing more from it.
            let mut sink = [0u8; 1024];
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
            return;
        }
        let started = std::time::Instant::now();
        let written = write_response(stream.get_mut(), &response).await;
        wrote(started);
        if written.is_err() || close {
            return;
        }
    }
}

async fn read_request(stream: &mut BufReader<TcpStream>) -> std::io::Result<Option<RawRequest>> {
    let mut head = Vec::new();
    loop {
        if stream.read_until(b'\n', &mut head).await? == 0 {
            return Ok(None);
        }
        if head == b"\r\n" {
            head.clear(); // a stray CRLF between requests
        } else if head.ends_with(b"\r\n\r\n") {
            break;
        } else if head.len() > MAX_HEAD {
            return Err(invalid("request head too large"));
        }
    }
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut slots);
    if !parsed
        .parse(&head)
        .map_err(|e| invalid(&e.to_string()))?
        .is_complete()
    {
        return Err(invalid("incomplete request head"));
    }
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let mut request = RawRequest {
        method: parsed.method.unwrap_or_default().to_owned(),
        target: parsed.path.unwrap_or_default().to_owned(),
        close: parsed.version == Some(0),
        headers,
        body: Vec::new(),
    };
    if let Some(connection) = request.header("connection") {
        request.close = connection.eq_ignore_ascii_case("close");
    }
    if request
        .header("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    {
        request.body = read_chunked(stream).await?;
    } else if let Some(length) = request.header("content-length") {
        let length: usize = length
            .trim()
            .parse()
            .map_err(|_| invalid("bad content-length"))?;
        request.body = vec![0; length];
        stream.read_exact(&mut request.body).await?;
    }
    Ok(Some(request))
}

async fn read_chunked(stream: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).await?;
        let size = line.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size, 16).map_err(|_| invalid("bad chunk size"))?;
        if size == 0 {
            // Trailers, then the empty line that ends the body.
            loop {
                line.clear();
                if stream.read_line(&mut line).await? == 0 || line == "\r\n" {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        stream.read_exact(&mut body[start..]).await?;
        let mut crlf = [0; 2];
        stream.read_exact(&mut crlf).await?;
    }
}

async fn write_response(stream: &mut TcpStream, response: &RawResponse) -> std::io::Result<()> {
    use std::io::Write as _;
    // The head and the body in one buffer, one write.
    let mut bytes = Vec::with_capacity(160 + response.body.len());
    let status = response.status;
    write!(bytes, "HTTP/1.1 {status} {}\r\n", reason(status))?;
    for (name, value) in &response.headers {
        write!(bytes, "{name}: {value}\r\n")?;
    }
    if response.status != 204 {
        write!(bytes, "content-length: {}\r\n", response.body.len())?;
    }
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(&response.body);
    stream.write_all(&bytes).await?;
    stream.flush().await
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        _ => "Internal Server Error",
    }
}

fn invalid(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_owned())
}
