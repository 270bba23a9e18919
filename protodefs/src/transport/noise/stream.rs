//! [`NoiseStream`]: a Noise session over any tokio byte stream, itself a byte stream
//! (`AsyncRead` + `AsyncWrite`), and the two handshakes that make one:
//! [`client_handshake`] and [`server_handshake`], each bounded by [`HANDSHAKE_TIMEOUT`].

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use cvlan_types::{PrivateKey, PublicKey};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::NoiseError;
use super::frame::FrameDecoder;
use super::session::{HANDSHAKE_TIMEOUT, Initiator, MAX_PLAINTEXT, Responder, Transport};

/// How many bytes one read from the connection asks for.
const READ_CHUNK: usize = 16 * 1024;

/// A buffer this large is freed once emptied, so an idle connection holds little memory.
const KEEP_BUFFER: usize = 16 * 1024;

/// Runs the initiator's handshake on `io` (a node or cvlanctl dialling the controller) from
/// the static key `local` to the server's `server`.
///
/// A server that does not hold `server`'s private key cannot answer: it drops the connection
/// and this fails with [`NoiseError::ClosedInHandshake`].
pub async fn client_handshake<T>(
    mut io: T,
    local: &PrivateKey,
    server: &PublicKey,
) -> Result<NoiseStream<T>, NoiseError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let handshake = async move {
        let mut inbound = Inbound::new();
        let mut out = Vec::new();
        let initiator = Initiator::start(local, server, Instant::now(), &mut out)?;
        io.write_all(&out).await?;
        io.flush().await?;
        let message_2 = inbound.handshake_frame(&mut io).await?;
        out.clear();
        let transport = initiator.finish(&message_2, Instant::now(), &mut out)?;
        io.write_all(&out).await?;
        io.flush().await?;
        Ok(NoiseStream::new(io, transport, *server, inbound))
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| NoiseError::Timeout)?
}

/// Runs the responder's handshake on `io` (the controller, with its static key `local`);
/// returns the stream and the client's static key, its identity, proven by the handshake.
pub async fn server_handshake<T>(
    mut io: T,
    local: &PrivateKey,
) -> Result<(NoiseStream<T>, PublicKey), NoiseError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let handshake = async move {
        let mut inbound = Inbound::new();
        let responder = Responder::new(local, Instant::now())?;
        let message_1 = inbound.handshake_frame(&mut io).await?;
        let mut out = Vec::new();
        let confirming = responder.respond(&message_1, Instant::now(), &mut out)?;
        io.write_all(&out).await?;
        io.flush().await?;
        let confirmation = inbound.handshake_frame(&mut io).await?;
        let (transport, remote) = confirming.confirm(&confirmation, Instant::now())?;
        Ok((NoiseStream::new(io, transport, remote, inbound), remote))
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| NoiseError::Timeout)?
}

/// An established Noise session over `T`: what is written is sealed into frames (at most
/// [`MAX_PLAINTEXT`] bytes each), what is read was opened from them.
///
/// A frame that fails to open, or a connection that ends mid-frame, is a read error
/// (`InvalidData`, `UnexpectedEof`), and every later read fails too; a connection that ends
/// between frames is a clean end of stream. Writes keep at most one sealed frame buffered.
pub struct NoiseStream<T> {
    io: T,
    transport: Transport,
    remote: PublicKey,
    inbound: Inbound,
    /// Opened plaintext the reader has not taken yet, from `plain_pos` on.
    plain: Vec<u8>,
    plain_pos: usize,
    /// Sealed frames not yet written to `io`, from `out_pos` on.
    outbound: Vec<u8>,
    out_pos: usize,
    /// Set when reading failed: the stream is out of step for good.
    read_failed: Option<io::ErrorKind>,
}

impl<T> NoiseStream<T> {
    fn new(io: T, transport: Transport, remote: PublicKey, inbound: Inbound) -> Self {
        Self {
            io,
            transport,
            remote,
            inbound,
            plain: Vec::new(),
            plain_pos: 0,
            outbound: Vec::new(),
            out_pos: 0,
            read_failed: None,
        }
    }

    /// The peer's static key: the server's for a client, the client's for a server.
    pub fn remote(&self) -> PublicKey {
        self.remote
    }

    /// The connection underneath.
    pub fn get_ref(&self) -> &T {
        &self.io
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for NoiseStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseStream")
            .field("io", &self.io)
            .field("remote", &self.remote)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl<T: AsyncWrite + Unpin> NoiseStream<T> {
    /// Writes out the sealed frames still buffered.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_pos < self.outbound.len() {
            let pending = &self.outbound[self.out_pos..];
            let written = ready!(Pin::new(&mut self.io).poll_write(cx, pending))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += written;
        }
        release(&mut self.outbound);
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for NoiseStream<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(kind) = this.read_failed {
            return Poll::Ready(Err(io::Error::new(
                kind,
                "the Noise stream failed earlier and is out of step",
            )));
        }
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        while this.plain_pos == this.plain.len() {
            release(&mut this.plain);
            this.plain_pos = 0;
            let opened = match ready!(this.inbound.poll_frame(cx, &mut this.io)) {
                Ok(Some(frame)) => this.transport.open(&frame, &mut this.plain),
                Ok(None) => return Poll::Ready(Ok(())),
                Err(error) => Err(error),
            };
            if let Err(error) = opened {
                let error = error.into_io();
                this.read_failed = Some(error.kind());
                return Poll::Ready(Err(error));
            }
        }
        let available = &this.plain[this.plain_pos..];
        let taken = available.len().min(buf.remaining());
        buf.put_slice(&available[..taken]);
        this.plain_pos += taken;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for NoiseStream<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let taken = buf.len().min(MAX_PLAINTEXT);
        this.transport
            .seal(&buf[..taken], &mut this.outbound)
            .map_err(NoiseError::into_io)?;
        // Start sending now; what the connection does not take yet goes out on the next
        // write or flush.
        if let Poll::Ready(Err(error)) = this.poll_drain(cx) {
            return Poll::Ready(Err(error));
        }
        Poll::Ready(Ok(taken))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// The reading half's buffers: bytes read from the connection and the frame being decoded.
struct Inbound {
    decoder: FrameDecoder,
    raw: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Inbound {
    fn new() -> Self {
        Self {
            decoder: FrameDecoder::new(),
            raw: vec![0; READ_CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    /// The next frame's body; `None` when the connection ended between frames.
    fn poll_frame<T: AsyncRead + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut T,
    ) -> Poll<Result<Option<Vec<u8>>, NoiseError>> {
        loop {
            let mut input = &self.raw[self.start..self.end];
            let frame = self.decoder.decode(&mut input)?;
            self.start = self.end - input.len();
            if frame.is_some() {
                return Poll::Ready(Ok(frame));
            }
            let mut buf = ReadBuf::new(&mut self.raw);
            ready!(Pin::new(&mut *io).poll_read(cx, &mut buf))?;
            let read = buf.filled().len();
            (self.start, self.end) = (0, read);
            if read == 0 {
                return Poll::Ready(if self.decoder.is_mid_frame() {
                    Err(NoiseError::ClosedMidFrame)
                } else {
                    Ok(None)
                });
            }
        }
    }

    /// The next frame of a handshake: a connection that ends first ends the handshake.
    async fn handshake_frame<T: AsyncRead + Unpin>(
        &mut self,
        io: &mut T,
    ) -> Result<Vec<u8>, NoiseError> {
        match poll_fn(|cx| self.poll_frame(cx, io)).await {
            Ok(Some(frame)) => Ok(frame),
            Ok(None) | Err(NoiseError::ClosedMidFrame) => Err(NoiseError::ClosedInHandshake),
            Err(error) => Err(error),
        }
    }
}

/// Empties `buffer`, freeing it when it grew large.
fn release(buffer: &mut Vec<u8>) {
    if buffer.capacity() > KEEP_BUFFER {
        *buffer = Vec::new();
    } else {
        buffer.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::noise::frame;
    use tokio::io::{AsyncReadExt, DuplexStream, duplex};

    fn key(n: u8) -> PrivateKey {
        PrivateKey::from_bytes([n; 32])
    }

    /// A client and a server stream, handshaken over an in-memory pipe.
    async fn pair() -> (NoiseStream<DuplexStream>, NoiseStream<DuplexStream>) {
        let (client_io, server_io) = duplex(64 * 1024);
        let (client, server) = (key(1), key(2));
        let server_pub = server.public_key();
        let (client, served) = tokio::join!(
            client_handshake(client_io, &client, &server_pub),
            server_handshake(server_io, &server)
        );
        let (server_stream, learnt) = served.expect("server handshake");
        assert_eq!(learnt, key(1).public_key());
        let client = client.expect("client handshake");
        assert_eq!(client.remote(), server_pub);
        (client, server_stream)
    }

    #[tokio::test]
    async fn a_megabyte_echoes_through_both_directions() {
        let (client, server) = pair().await;
        let echo = tokio::spawn(async move {
            let (mut reader, mut writer) = tokio::io::split(server);
            let copied = tokio::io::copy(&mut reader, &mut writer).await;
            writer.shutdown().await.expect("shutdown");
            copied
        });
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let (mut reader, mut writer) = tokio::io::split(client);
        let sent = data.clone();
        let send = tokio::spawn(async move {
            writer.write_all(&sent).await.expect("write");
            writer.shutdown().await.expect("shutdown");
        });
        let mut back = Vec::new();
        reader.read_to_end(&mut back).await.expect("read");
        send.await.expect("sender");
        assert_eq!(echo.await.expect("echo").expect("copy"), data.len() as u64);
        assert!(back == data, "the echo matches what was sent");
    }

    #[tokio::test]
    async fn a_client_with_the_wrong_server_key_fails_cleanly() {
        let (client_io, server_io) = duplex(4096);
        let (client, server, other) = (key(1), key(2), key(3));
        let other_pub = other.public_key();
        let (client, server) = tokio::join!(
            client_handshake(client_io, &client, &other_pub),
            async move {
                let result = server_handshake(server_io, &server).await;
                // The server drops the connection with the failed handshake.
                result.map(|_| ())
            }
        );
        assert!(matches!(client, Err(NoiseError::ClosedInHandshake)));
        assert!(matches!(server, Err(NoiseError::Handshake(_))));
    }

    #[tokio::test]
    async fn a_peer_closing_mid_frame_is_an_error_not_a_hang() {
        let (mut client, mut server) = pair().await;
        client.write_all(b"whole").await.expect("write");
        client.flush().await.expect("flush");
        // Half a frame on the raw connection, then the connection ends.
        let mut wire = Vec::new();
        frame::encode(&[7; 100], &mut wire).expect("frame");
        client.io.write_all(&wire[..50]).await.expect("raw write");
        drop(client);

        let mut got = [0u8; 5];
        server.read_exact(&mut got).await.expect("the whole frame");
        assert_eq!(&got, b"whole");
        let error = tokio::time::timeout(HANDSHAKE_TIMEOUT, server.read(&mut got))
            .await
            .expect("no hang")
            .expect_err("a mid-frame end is an error");
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        let again = server.read(&mut got).await.expect_err("and stays one");
        assert_eq!(again.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn an_end_between_frames_is_a_clean_end_of_stream() {
        let (mut client, mut server) = pair().await;
        client.write_all(b"bye").await.expect("write");
        client.shutdown().await.expect("shutdown");
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.expect("clean end");
        assert_eq!(got, b"bye");
    }

    #[tokio::test]
    async fn a_corrupted_frame_is_invalid_data() {
        let (mut client, mut server) = pair().await;
        let mut wire = Vec::new();
        frame::encode(&[7; 40], &mut wire).expect("frame");
        client.io.write_all(&wire).await.expect("raw write");
        let mut got = [0u8; 8];
        let error = server.read(&mut got).await.expect_err("forged frame");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_times_out() {
        let (_client_io, server_io) = duplex(4096);
        let result = server_handshake(server_io, &key(2)).await;
        assert!(matches!(result, Err(NoiseError::Timeout)));
    }

    #[tokio::test]
    async fn a_truncated_handshake_fails_when_the_client_closes() {
        let (mut client_io, server_io) = duplex(4096);
        let mut wire = Vec::new();
        Initiator::start(&key(1), &key(2).public_key(), Instant::now(), &mut wire).expect("start");
        client_io.write_all(&wire[..40]).await.expect("write");
        drop(client_io);
        let result = server_handshake(server_io, &key(2)).await;
        assert!(matches!(result, Err(NoiseError::ClosedInHandshake)));
    }
}
