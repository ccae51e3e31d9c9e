//! Outgoing email over SMTP: the [`Mailer`], the messages Logvault sends, and errors that never name a recipient.
//!
//! Email addresses, codes and links are personal data or secrets: they go into the message and nowhere else. Neither
//! [`MailError`] nor any `Debug` output here contains them, and failed background deliveries are logged by kind only.
//! The SMTP server's own reply text is dropped for the same reason (it often quotes the rejected address).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use logvault_core::Email;
use secrecy::ExposeSecret;

use crate::config::{SmtpConfig, SmtpSecurity};

/// Sends email through the configured SMTP relay, one connection per email (Logvault sends few). Cloning is cheap.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<MailerInner>,
}

/// One plain-text (UTF-8) email to one person. `Debug` shows none of its content.
#[derive(Clone)]
pub struct OutgoingMail {
    pub to: Email,
    pub subject: String,
    pub body: String,
}

/// Why an email could not be sent. The message never contains an address, a subject or a body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("invalid smtp configuration: {0}")]
    Config(&'static str),
    #[error("the recipient address is not accepted by the mail library")]
    Recipient,
    #[error("the email could not be built")]
    Message,
    #[error("smtp delivery failed: {0}")]
    Delivery(DeliveryFailure),
}

/// What went wrong talking to the relay, without the relay's reply text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryFailure {
    #[error("timed out")]
    Timeout,
    #[error("network error ({0})")]
    Network(std::io::ErrorKind),
    #[error("tls error")]
    Tls,
    #[error("temporarily refused with code {0}")]
    Transient(u16),
    #[error("refused with code {0}")]
    Permanent(u16),
    #[error("unexpected reply or unsupported by the relay")]
    Protocol,
}

struct MailerInner {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    host: String,
    port: u16,
    security: SmtpSecurity,
}

impl Mailer {
    /// The mailer for `config`, or `None` when no SMTP host is configured (email is disabled). Nothing is
    /// contacted yet: a wrong host or password shows at the first delivery.
    pub fn from_config(config: &SmtpConfig) -> Result<Option<Mailer>, MailError> {
        let Some(host) = config.host.as_deref() else { return Ok(None) };
        let from: Mailbox =
            config.from.parse().map_err(|_| MailError::Config("smtp.from must be a mailbox such as name <a@b.c>"))?;
        let builder = match config.security {
            SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|_| MailError::Config("the tls settings for smtp.host could not be prepared"))?,
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .map_err(|_| MailError::Config("the tls settings for smtp.host could not be prepared"))?,
            SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        };
        let mut builder = builder.port(config.port).timeout(Some(Duration::from_secs(config.timeout_secs)));
        match (&config.username, &config.password) {
            (Some(username), Some(password)) => {
                builder = builder.credentials(Credentials::new(username.clone(), password.expose_secret().to_owned()));
            }
            (None, None) => {}
            _ => return Err(MailError::Config("smtp.username and smtp.password must be set together")),
        }
        let inner = MailerInner {
            transport: builder.build(),
            from,
            host: host.to_owned(),
            port: config.port,
            security: config.security,
        };
        Ok(Some(Mailer { inner: Arc::new(inner) }))
    }

    /// Sends `mail` and waits until the relay has accepted it.
    pub async fn send(&self, mail: OutgoingMail) -> Result<(), MailError> {
        let message = self.message(mail)?;
        self.inner.transport.send(message).await.map_err(|err| MailError::Delivery(delivery_failure(&err)))?;
        Ok(())
    }

    /// Sends `mail` from a background task, so that a slow relay does not delay a response. A failure is logged
    /// by kind only. Must be called inside a Tokio runtime.
    pub fn send_in_background(&self, mail: OutgoingMail) {
        let mailer = self.clone();
        tokio::spawn(async move {
            if let Err(err) = mailer.send(mail).await {
                tracing::warn!(error = %err, "email not delivered");
            }
        });
    }

    fn message(&self, mail: OutgoingMail) -> Result<Message, MailError> {
        let to: Address = mail.to.as_str().parse().map_err(|_| MailError::Recipient)?;
        Message::builder()
            .from(self.inner.from.clone())
            .to(Mailbox::new(None, to))
            .subject(mail.subject)
            .message_id(self.message_id())
            .header(ContentType::TEXT_PLAIN)
            // lettre picks 7bit, quoted-printable or base64, so no relay needs 8BITMIME.
            .body(mail.body)
            .map_err(|_| MailError::Message)
    }

    /// A Message-ID in the sender's domain (lettre's own would end in `@localhost`, which spam filters dislike).
    fn message_id(&self) -> Option<String> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).ok()?;
        Some(format!("<{}@{}>", hex::encode(bytes), self.inner.from.email.domain()))
    }
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("host", &self.inner.host)
            .field("port", &self.inner.port)
            .field("security", &self.inner.security)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("to", &self.to)
            .field("subject_chars", &self.subject.chars().count())
            .field("body_chars", &self.body.chars().count())
            .finish()
    }
}

/// The one-time code for signing in.
pub fn sign_in_code(to: Email, code: &str, valid_minutes: u32) -> OutgoingMail {
    let valid = count(valid_minutes, "minute");
    OutgoingMail {
        to,
        subject: "Your Logvault sign-in code".to_owned(),
        body: format!(
            "Your Logvault sign-in code is:\n\
             \n\
             \x20   {code}\n\
             \n\
             It is valid for {valid} and works once. Nobody from Logvault will ever ask you for it: do not share it.\n\
             \n\
             If you did not try to sign in to Logvault, you can ignore this email. If it keeps happening, someone \
             may know your password: change it after signing in.\n"
        ),
    }
}

/// Tells the owner of an account that sign-in was locked after repeated failed attempts: for `minutes`, or — with
/// `None` — until an operator unlocks it (after 100 failures in a row).
pub fn account_locked(to: Email, minutes: Option<u32>) -> OutgoingMail {
    let (how_long, then) = match minutes {
        Some(minutes) => {
            let duration = count(minutes, "minute");
            (format!("for {duration}"), format!("If that was you, wait {duration} and try again."))
        }
        None => (
            "until an administrator unlocks it".to_owned(),
            "If that was you, ask the administrator of this Logvault server to unlock it.".to_owned(),
        ),
    };
    OutgoingMail {
        to,
        subject: "Logvault sign-in locked after failed attempts".to_owned(),
        body: format!(
            "Signing in to your Logvault account was locked {how_long} after several failed attempts.\n\
             \n\
             {then} If you have forgotten your password, ask an administrator of your organisation to reset it.\n\
             \n\
             If it was not you, someone may be trying to guess your password or your sign-in code. Nothing was \
             changed in your account. When the lock has ended, sign in, choose a new password that you use nowhere \
             else, turn on two-factor authentication if it is not on yet, and tell an administrator of your \
             organisation.\n"
        ),
    }
}

/// An invitation to join an organisation with a role; `link` accepts it.
pub fn invitation(to: Email, org_name: &str, role: &str, link: &str, expires_days: u32) -> OutgoingMail {
    let org_name = single_line(org_name);
    let role = single_line(role);
    let expires = count(expires_days, "day");
    OutgoingMail {
        to,
        subject: format!("You are invited to {org_name} on Logvault"),
        body: format!(
            "You have been invited to join {org_name} on Logvault with the role {role}.\n\
             \n\
             To accept, open this link and choose your password:\n\
             \n\
             {link}\n\
             \n\
             The link is valid for {expires} and works once. If you did not expect this invitation, ignore this \
             email: nothing happens unless the link is used.\n"
        ),
    }
}

/// The link with which the first administrator sets up a new organisation.
pub fn setup_link(to: Email, org_name: &str, link: &str, expires_hours: u32) -> OutgoingMail {
    let org_name = single_line(org_name);
    let expires = count(expires_hours, "hour");
    OutgoingMail {
        to,
        subject: format!("Set up {org_name} on Logvault"),
        body: format!(
            "The organisation {org_name} is ready on Logvault, with you as its first administrator.\n\
             \n\
             To set it up, open this link and choose your password:\n\
             \n\
             {link}\n\
             \n\
             The link is valid for {expires} and works once. If you did not expect this email, ignore it: nothing \
             happens unless the link is used.\n"
        ),
    }
}

/// `1 minute`, `5 minutes`.
fn count(n: u32, unit: &str) -> String {
    if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") }
}

/// Organisation names and roles end up in the subject: line breaks and other control characters become spaces.
fn single_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn delivery_failure(err: &lettre::transport::smtp::Error) -> DeliveryFailure {
    if err.is_timeout() {
        return DeliveryFailure::Timeout;
    }
    if err.is_tls() {
        return DeliveryFailure::Tls;
    }
    if let Some(code) = err.status() {
        return if err.is_transient() {
            DeliveryFailure::Transient(code.into())
        } else {
            DeliveryFailure::Permanent(code.into())
        };
    }
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            return DeliveryFailure::Network(io.kind());
        }
        source = inner.source();
    }
    DeliveryFailure::Protocol
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ana() -> Email {
        Email::parse("ana@example.test").unwrap()
    }

    fn assert_plain_text(mail: &OutgoingMail) {
        for markup in ["<html", "<p>", "<a ", "<br"] {
            assert!(!mail.body.contains(markup), "{}", mail.body);
        }
        assert!(!mail.subject.contains('\n') && !mail.subject.contains('\r'), "{}", mail.subject);
    }

    #[test]
    fn the_messages_carry_their_code_or_link_as_plain_text() {
        let mail = sign_in_code(ana(), "482913", 10);
        assert!(mail.body.contains("482913"), "{}", mail.body);
        assert!(mail.body.contains("10 minutes"), "{}", mail.body);
        assert_plain_text(&mail);

        let mail = account_locked(ana(), Some(1));
        assert!(mail.body.contains("locked for 1 minute "), "{}", mail.body);
        assert!(mail.body.contains("If it was not you"), "{}", mail.body);
        assert_plain_text(&mail);

        let link = "https://lv.example.test/invitations/accept#token=abc123";
        let mail = invitation(ana(), "Müller\r\nBcc: x@evil.test", "operator", link, 7);
        assert!(mail.body.contains(link), "{}", mail.body);
        assert!(mail.body.contains("operator") && mail.body.contains("7 days"), "{}", mail.body);
        assert!(mail.subject.contains("Müller"), "{}", mail.subject);
        assert_plain_text(&mail);

        let link = "https://lv.example.test/setup#token=def456";
        let mail = setup_link(ana(), "Acme Labs", link, 24);
        assert!(mail.body.contains(link) && mail.body.contains("24 hours"), "{}", mail.body);
        assert!(mail.subject.contains("Acme Labs"), "{}", mail.subject);
        assert_plain_text(&mail);
    }

    #[test]
    fn debug_output_shows_no_address_subject_body_or_password() {
        let mail = sign_in_code(ana(), "482913", 10);
        let shown = format!("{mail:?}");
        assert!(!shown.contains("ana@") && !shown.contains("482913") && !shown.contains("sign-in"), "{shown}");
        let config = SmtpConfig {
            host: Some("smtp.example.test".to_owned()),
            username: Some("relay-user".to_owned()),
            password: Some("smtp-hunter2-secret".to_owned().into()),
            ..SmtpConfig::default()
        };
        let mailer = Mailer::from_config(&config).unwrap().unwrap();
        let shown = format!("{mailer:?}");
        assert!(shown.contains("smtp.example.test"), "{shown}");
        assert!(!shown.contains("smtp-hunter2-secret") && !shown.contains("relay-user"), "{shown}");
    }

    #[test]
    fn no_host_means_email_is_disabled() {
        assert!(Mailer::from_config(&SmtpConfig::default()).unwrap().is_none());
    }
}
