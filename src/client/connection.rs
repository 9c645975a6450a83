//! `Connection`: one TCP connection to a RESP server. Commands are queued into a write buffer and
//! sent with one write (a pipeline); replies are read back in order. Invariant: after any
//! `ClientError` the connection is not used again (callers drop it), because the reply stream
//! can no longer be matched to the commands sent.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::error::ClientError;
use crate::resp::{self, parse_value, Protocol, Value};

/// Bytes reserved in the read buffer before each read.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// Credentials for `AUTH` (or `HELLO ... AUTH`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auth {
    /// `None`: the default user (`AUTH <password>`).
    pub username: Option<String>,
    pub password: String,
}

/// TLS for a client connection: the connector and the name the server's certificate must
/// carry.
#[derive(Clone)]
pub struct ClientTls {
    pub connector: tokio_rustls::TlsConnector,
    pub server_name: rustls::pki_types::ServerName<'static>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientTls({:?})", self.server_name)
    }
}

/// The socket: plain TCP, or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Plain(stream) => stream.write_all(bytes).await,
            Stream::Tls(stream) => {
                stream.write_all(bytes).await?;
                stream.flush().await
            }
        }
    }

    async fn read_buf(&mut self, buf: &mut BytesMut) -> std::io::Result<usize> {
        match self {
            Stream::Plain(stream) => stream.read_buf(buf).await,
            Stream::Tls(stream) => stream.read_buf(buf).await,
        }
    }
}

/// How to open a connection.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub connect_timeout: Duration,
    /// How long a reply may take once its command was sent.
    pub reply_timeout: Duration,
    pub auth: Option<Auth>,
    /// `Resp2`: no HELLO is sent (works with every server). `Resp3`: `HELLO 3` first.
    pub protocol: Protocol,
    /// TLS over the TCP connection (None: plaintext).
    pub tls: Option<ClientTls>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
            reply_timeout: Duration::from_secs(10),
            auth: None,
            protocol: Protocol::Resp2,
            tls: None,
        }
    }
}

/// One open connection.
pub struct Connection {
    stream: Stream,
    target: String,
    read_buf: BytesMut,
    write_buf: BytesMut,
    reply_timeout: Duration,
}

impl Connection {
    /// Connects to `target` (`host:port`) and performs the handshake the options ask for.
    pub async fn connect(target: &str, options: &ConnectOptions) -> Result<Self, ClientError> {
        let stream =
            match tokio::time::timeout(options.connect_timeout, TcpStream::connect(target)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(source)) => {
                    return Err(ClientError::Connect {
                        target: target.to_string(),
                        source,
                    })
                }
                Err(_) => {
                    return Err(ClientError::ConnectTimeout {
                        target: target.to_string(),
                        timeout_ms: options.connect_timeout.as_millis() as u64,
                    })
                }
            };
        let _ = stream.set_nodelay(true);
        let stream = match &options.tls {
            None => Stream::Plain(stream),
            Some(tls) => {
                let handshake = tls.connector.connect(tls.server_name.clone(), stream);
                match tokio::time::timeout(options.connect_timeout, handshake).await {
                    Ok(Ok(stream)) => Stream::Tls(Box::new(stream)),
                    Ok(Err(source)) => {
                        return Err(ClientError::Connect {
                            target: target.to_string(),
                            source,
                        })
                    }
                    Err(_) => {
                        return Err(ClientError::ConnectTimeout {
                            target: target.to_string(),
                            timeout_ms: options.connect_timeout.as_millis() as u64,
                        })
                    }
                }
            }
        };
        let mut connection = Connection {
            stream,
            target: target.to_string(),
            read_buf: BytesMut::with_capacity(READ_CHUNK_BYTES),
            write_buf: BytesMut::new(),
            reply_timeout: options.reply_timeout,
        };
        connection.handshake(options).await?;
        Ok(connection)
    }

    async fn handshake(&mut self, options: &ConnectOptions) -> Result<(), ClientError> {
        let mut args: Vec<Bytes> = Vec::new();
        match (options.protocol, &options.auth) {
            (Protocol::Resp3, auth) => {
                args.extend([Bytes::from_static(b"HELLO"), Bytes::from_static(b"3")]);
                if let Some(auth) = auth {
                    let username = auth.username.as_deref().unwrap_or("default");
                    args.push(Bytes::from_static(b"AUTH"));
                    args.push(Bytes::copy_from_slice(username.as_bytes()));
                    args.push(Bytes::copy_from_slice(auth.password.as_bytes()));
                }
            }
            (Protocol::Resp2, Some(auth)) => {
                args.push(Bytes::from_static(b"AUTH"));
                if let Some(username) = &auth.username {
                    args.push(Bytes::copy_from_slice(username.as_bytes()));
                }
                args.push(Bytes::copy_from_slice(auth.password.as_bytes()));
            }
            (Protocol::Resp2, None) => return Ok(()),
        }
        match self.command(&args).await? {
            Value::Error(reply) => Err(ClientError::Handshake {
                target: self.target.clone(),
                reply,
            }),
            _ => Ok(()),
        }
    }

    /// The `host:port` this connection was opened to.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Appends one command to the write buffer; nothing is sent until [`Connection::flush`].
    pub fn queue(&mut self, args: &[Bytes]) {
        resp::write_command(args, &mut self.write_buf);
    }

    /// Sends everything queued.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        let result = self.stream.write_all(&self.write_buf).await;
        self.write_buf.clear();
        result.map_err(|source| self.io_error(source))
    }

    /// The next reply to a command, skipping RESP3 push messages; fails after the reply timeout.
    pub async fn read_reply(&mut self) -> Result<Value, ClientError> {
        loop {
            match self.read_value().await? {
                Value::Push(_) => continue,
                value => return Ok(value),
            }
        }
    }

    /// The next value the server sent, push messages included; fails after the reply timeout.
    pub async fn read_value(&mut self) -> Result<Value, ClientError> {
        let deadline = tokio::time::Instant::now() + self.reply_timeout;
        loop {
            if let Some(value) = self.buffered_value()? {
                return Ok(value);
            }
            match tokio::time::timeout_at(deadline, self.fill()).await {
                Ok(result) => result?,
                Err(_) => {
                    return Err(ClientError::ReplyTimeout {
                        target: self.target.clone(),
                        timeout_ms: self.reply_timeout.as_millis() as u64,
                    })
                }
            }
        }
    }

    /// A complete value already in the read buffer, if any (push messages included).
    pub fn buffered_value(&mut self) -> Result<Option<Value>, ClientError> {
        match parse_value(&self.read_buf) {
            Ok(Some((value, used))) => {
                self.read_buf.advance(used);
                Ok(Some(value))
            }
            Ok(None) => Ok(None),
            Err(source) => Err(ClientError::Malformed {
                target: self.target.clone(),
                source,
            }),
        }
    }

    /// Reads once from the socket into the read buffer. Cancel-safe: usable in `select!`.
    pub async fn fill(&mut self) -> Result<(), ClientError> {
        self.read_buf.reserve(READ_CHUNK_BYTES);
        match self.stream.read_buf(&mut self.read_buf).await {
            Ok(0) => Err(ClientError::Closed {
                target: self.target.clone(),
            }),
            Ok(_) => Ok(()),
            Err(source) => Err(self.io_error(source)),
        }
    }

    /// Sends one command and reads its reply.
    pub async fn command(&mut self, args: &[Bytes]) -> Result<Value, ClientError> {
        self.queue(args);
        self.flush().await?;
        self.read_reply().await
    }

    /// Sends `commands` with one write and reads their replies, in order.
    pub async fn pipeline(&mut self, commands: &[Vec<Bytes>]) -> Result<Vec<Value>, ClientError> {
        for args in commands {
            self.queue(args);
        }
        self.flush().await?;
        let mut replies = Vec::with_capacity(commands.len());
        for _ in commands {
            replies.push(self.read_reply().await?);
        }
        Ok(replies)
    }

    fn io_error(&self, source: std::io::Error) -> ClientError {
        ClientError::Io {
            target: self.target.clone(),
            source,
        }
    }
}
