//! A real SMTP server for tests: speaks plain SMTP (RFC 5321) on 127.0.0.1 and hands every accepted message to the
//! test, so email goes through the same client code and wire protocol as in production.
//!
//! It advertises no extensions it does not implement: no STARTTLS, no AUTH (tests send without credentials) and no
//! 8BITMIME (so a message that would need it fails here as it would at a strict relay).

use std::time::Duration;

use data_encoding::{BASE64, BASE64_NOPAD};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc};
use tokio::task::{JoinHandle, JoinSet};

/// A running SMTP sink; dropping it stops the server and closes every connection.
#[derive(Debug)]
pub struct SmtpSink {
    port: u16,
    received: Mutex<mpsc::UnboundedReceiver<ReceivedMail>>,
    server: JoinHandle<()>,
}

/// One message as the sink received it: the envelope and the raw message (dot-unstuffed, CRLF line ends).
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: String,
}

/// Largest message the sink keeps reading; larger ones are refused (a runaway client must not exhaust memory).
const MAX_DATA_BYTES: usize = 10 * 1024 * 1024;

impl SmtpSink {
    /// Starts the sink on a free port of 127.0.0.1.
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the smtp sink");
        let port = listener.local_addr().expect("smtp sink address").port();
        let (sender, received) = mpsc::unbounded_channel();
        let server = tokio::spawn(async move {
            // Owned by this task, so aborting it on drop also aborts every connection.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        connections.spawn(serve_connection(stream, sender.clone()));
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        SmtpSink { port, received: Mutex::new(received), server }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The next message, waiting at most `timeout` for it.
    pub async fn next_message(&self, timeout: Duration) -> Option<ReceivedMail> {
        let mut received = self.received.lock().await;
        tokio::time::timeout(timeout, received.recv()).await.ok().flatten()
    }

    /// A message already received and not yet taken, without waiting.
    pub fn try_next(&self) -> Option<ReceivedMail> {
        self.received.try_lock().ok()?.try_recv().ok()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl ReceivedMail {
    /// The first header called `name` (any case), unfolded and with RFC 2047 encoded words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        let (head, _) = self.split();
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.split("\r\n").find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| decode_encoded_words(value.trim()))
        })
    }

    pub fn subject(&self) -> Option<String> {
        self.header("Subject")
    }

    /// The body decoded from its Content-Transfer-Encoding (7bit, 8bit, quoted-printable or base64), with `\n`
    /// line ends.
    pub fn text_body(&self) -> String {
        let (_, body) = self.split();
        let encoding = self.header("Content-Transfer-Encoding").unwrap_or_default().to_ascii_lowercase();
        let bytes = match encoding.as_str() {
            "quoted-printable" => decode_quoted_printable(body.as_bytes()),
            "base64" => {
                let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                BASE64.decode(compact.as_bytes()).expect("a valid base64 body")
            }
            _ => body.as_bytes().to_vec(),
        };
        String::from_utf8(bytes).expect("a UTF-8 body").replace("\r\n", "\n")
    }

    fn split(&self) -> (&str, &str) {
        self.data.split_once("\r\n\r\n").unwrap_or((self.data.as_str(), ""))
    }
}

/// The state of one SMTP session.
#[derive(Default)]
struct Transaction {
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

async fn serve_connection(stream: TcpStream, sender: mpsc::UnboundedSender<ReceivedMail>) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut transaction = Transaction::default();
    if write.write_all(b"220 smtp-sink ESMTP ready\r\n").await.is_err() {
        return;
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        match read.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_owned();
        let verb = command.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => {
                transaction = Transaction::default();
                b"250-smtp-sink greets you\r\n250 SIZE 10485760\r\n"
            }
            "HELO" => {
                transaction = Transaction::default();
                b"250 smtp-sink\r\n"
            }
            "MAIL" => match path_argument(&command, "MAIL FROM:") {
                Some(from) => {
                    transaction = Transaction { mail_from: Some(from), rcpt_to: Vec::new() };
                    b"250 2.1.0 OK\r\n"
                }
                None => b"501 5.5.4 syntax: MAIL FROM:<address>\r\n",
            },
            "RCPT" => match (&transaction.mail_from, path_argument(&command, "RCPT TO:")) {
                (None, _) => b"503 5.5.1 MAIL first\r\n",
                (Some(_), None) => b"501 5.5.4 syntax: RCPT TO:<address>\r\n",
                (Some(_), Some(to)) => {
                    transaction.rcpt_to.push(to);
                    b"250 2.1.5 OK\r\n"
                }
            },
            "DATA" if transaction.rcpt_to.is_empty() => b"503 5.5.1 RCPT first\r\n",
            "DATA" => {
                if write.write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n").await.is_err() {
                    return;
                }
                let Some(data) = read_data(&mut read).await else { return };
                let transaction = std::mem::take(&mut transaction);
                match data {
                    Ok(data) => {
                        let mail = ReceivedMail {
                            mail_from: transaction.mail_from.unwrap_or_default(),
                            rcpt_to: transaction.rcpt_to,
                            data,
                        };
                        // The test may have finished with the sink already; the message is then simply dropped.
                        let _ = sender.send(mail);
                        b"250 2.0.0 OK queued\r\n"
                    }
                    Err(TooLarge) => b"552 5.3.4 message too large\r\n",
                }
            }
            "RSET" => {
                transaction = Transaction::default();
                b"250 2.0.0 OK\r\n"
            }
            "NOOP" => b"250 2.0.0 OK\r\n",
            "QUIT" => {
                let _ = write.write_all(b"221 2.0.0 bye\r\n").await;
                let _ = write.shutdown().await;
                return;
            }
            _ => b"502 5.5.2 command not implemented\r\n",
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

struct TooLarge;

/// Reads the message after DATA up to the line with a single dot, undoing dot-stuffing. `None` when the client
/// went away.
async fn read_data(read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<Result<String, TooLarge>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    let mut too_large = false;
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await.ok()? == 0 {
            return None;
        }
        if line == b".\r\n" || line == b".\n" {
            break;
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        if data.len() + unstuffed.len() > MAX_DATA_BYTES {
            too_large = true;
        } else {
            data.extend_from_slice(unstuffed);
        }
    }
    if too_large {
        return Some(Err(TooLarge));
    }
    // The CRLF before the final dot belongs to the terminator, not to the message.
    if data.ends_with(b"\r\n") {
        data.truncate(data.len() - 2);
    }
    Some(Ok(String::from_utf8_lossy(&data).into_owned()))
}

/// The address inside `<...>` after `prefix` (case-insensitive), ignoring any parameters after it.
fn path_argument(command: &str, prefix: &str) -> Option<String> {
    let head = command.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = command[prefix.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_owned())
}

fn decode_quoted_printable(encoded: &[u8]) -> Vec<u8> {
    let mut decoded = Vec::with_capacity(encoded.len());
    let mut i = 0;
    while let Some(&byte) = encoded.get(i) {
        let rest = &encoded[i + 1..];
        if byte != b'=' {
            decoded.push(byte);
            i += 1;
        } else if rest.starts_with(b"\r\n") {
            i += 3; // a soft line break
        } else if rest.starts_with(b"\n") {
            i += 2;
        } else if let Some(value) =
            rest.get(..2).and_then(|hex| std::str::from_utf8(hex).ok()).and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            decoded.push(value);
            i += 3;
        } else {
            decoded.push(b'=');
            i += 1;
        }
    }
    decoded
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`); whitespace between two adjacent encoded
/// words is dropped, as the RFC says.
fn decode_encoded_words(value: &str) -> String {
    let mut decoded = Vec::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, candidate) = rest.split_at(start);
        match decode_encoded_word(candidate) {
            Some((bytes, len)) => {
                if !(after_word && before.trim().is_empty()) {
                    decoded.extend_from_slice(before.as_bytes());
                }
                decoded.extend_from_slice(&bytes);
                rest = &candidate[len..];
                after_word = true;
            }
            None => {
                decoded.extend_from_slice(before.as_bytes());
                decoded.extend_from_slice(b"=?");
                rest = &candidate[2..];
                after_word = false;
            }
        }
    }
    decoded.extend_from_slice(rest.as_bytes());
    String::from_utf8_lossy(&decoded).into_owned()
}

/// One encoded word at the start of `word`: its bytes and its length in `word`.
fn decode_encoded_word(word: &str) -> Option<(Vec<u8>, usize)> {
    let inner = word.strip_prefix("=?")?;
    let (_charset, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    let end = inner.find("?=")?;
    let text = &inner[..end];
    let bytes = match encoding {
        "b" | "B" => BASE64_NOPAD.decode(text.trim_end_matches('=').as_bytes()).ok()?,
        "q" | "Q" => decode_quoted_printable(text.replace('_', " ").as_bytes()),
        _ => return None,
    };
    let len = word.len() - inner.len() + end + 2;
    Some((bytes, len))
}
