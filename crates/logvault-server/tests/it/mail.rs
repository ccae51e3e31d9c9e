//! Outgoing email through the real `Mailer` and lettre's SMTP client, received by the in-test SMTP sink.

use std::time::Duration;

use logvault_core::Email;
use logvault_server::config::{SmtpConfig, SmtpSecurity};
use logvault_server::mail::{self, DeliveryFailure, MailError, Mailer};

use crate::smtp_sink::SmtpSink;

/// Generous, so a loaded CI machine does not fail the test; a passing run never waits this long.
const WAIT: Duration = Duration::from_secs(20);

fn config_for(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: Some("127.0.0.1".to_owned()),
        port,
        security: SmtpSecurity::None,
        from: "Logvault <noreply@example.test>".to_owned(),
        timeout_secs: 5,
        ..SmtpConfig::default()
    }
}

fn ana() -> Email {
    Email::parse("Ana.Lima@Example.test").unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_code_reaches_the_smtp_server_with_its_sender_recipient_subject_and_code() {
    let sink = SmtpSink::start().await;
    let mailer = Mailer::from_config(&config_for(sink.port())).unwrap().unwrap();

    mailer.send(mail::sign_in_code(ana(), "482913", 10)).await.unwrap();

    let received = sink.next_message(WAIT).await.expect("a message");
    assert_eq!(received.mail_from, "noreply@example.test");
    assert_eq!(received.rcpt_to, vec!["ana.lima@example.test".to_owned()]);
    assert_eq!(received.header("From").as_deref(), Some("Logvault <noreply@example.test>"));
    assert_eq!(received.header("To").as_deref(), Some("ana.lima@example.test"));
    assert_eq!(received.subject().as_deref(), Some("Your Logvault sign-in code"));
    assert!(received.header("Message-ID").unwrap().ends_with("@example.test>"), "{}", received.data);
    assert!(received.header("Content-Type").unwrap().starts_with("text/plain"), "{}", received.data);
    let body = received.text_body();
    assert!(body.contains("    482913\n"), "{body}");
    assert!(sink.try_next().is_none(), "exactly one message");
}

#[tokio::test(flavor = "multi_thread")]
async fn non_ascii_names_and_long_links_arrive_intact() {
    let sink = SmtpSink::start().await;
    let mailer = Mailer::from_config(&config_for(sink.port())).unwrap().unwrap();
    let link = format!("https://logvault.example.test/invitations/accept#token={}", "Zk9x".repeat(20));

    mailer.send(mail::invitation(ana(), "Müller Messtechnik", "operator", &link, 7)).await.unwrap();

    let received = sink.next_message(WAIT).await.expect("a message");
    assert!(received.data.is_ascii(), "the relay was not offered 8BITMIME, so the message must be 7-bit");
    assert_eq!(received.subject().as_deref(), Some("You are invited to Müller Messtechnik on Logvault"));
    let body = received.text_body();
    assert!(body.contains(&format!("\n{link}\n")), "{body}");
    assert!(body.contains("join Müller Messtechnik"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn background_sends_are_delivered_one_after_another() {
    let sink = SmtpSink::start().await;
    let mailer = Mailer::from_config(&config_for(sink.port())).unwrap().unwrap();

    mailer.send_in_background(mail::sign_in_code(ana(), "111111", 10));
    let first = sink.next_message(WAIT).await.expect("the first message");
    mailer.clone().send_in_background(mail::account_locked(ana(), Some(15)));
    let second = sink.next_message(WAIT).await.expect("the second message");

    assert!(first.text_body().contains("111111"), "{}", first.text_body());
    assert!(second.text_body().contains("locked for 15 minutes"), "{}", second.text_body());
    assert_eq!(second.rcpt_to, vec!["ana.lima@example.test".to_owned()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_that_is_not_listening_is_an_error_without_the_address() {
    let closed_port = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = SmtpConfig { timeout_secs: 2, ..config_for(closed_port) };
    let mailer = Mailer::from_config(&config).unwrap().unwrap();

    let outcome = tokio::time::timeout(WAIT, mailer.send(mail::sign_in_code(ana(), "482913", 10)))
        .await
        .expect("the send gives up by itself");

    let err = outcome.unwrap_err();
    assert!(matches!(err, MailError::Delivery(DeliveryFailure::Network(_) | DeliveryFailure::Timeout)), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("ana") && !shown.contains("482913"), "{shown}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configuration_without_a_host_disables_email() {
    assert!(Mailer::from_config(&SmtpConfig::default()).unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_smtp_sink_takes_several_messages_per_connection_and_undoes_dot_stuffing() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let sink = SmtpSink::start().await;
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", sink.port())).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut expect_reply = async |command: &str, code: &str| {
        if !command.is_empty() {
            write.write_all(command.as_bytes()).await.unwrap();
        }
        // A multi-line reply has a '-' after the code on all but its last line.
        loop {
            let line = lines.next_line().await.unwrap().unwrap();
            assert!(line.starts_with(code), "{command:?} got {line:?}");
            if line.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
    };
    expect_reply("", "220").await;
    expect_reply("EHLO client.test\r\n", "250").await;
    for n in 1..=2 {
        expect_reply("MAIL FROM:<a@example.test> SIZE=100\r\n", "250").await;
        expect_reply(&format!("RCPT TO:<b{n}@example.test>\r\n"), "250").await;
        expect_reply("DATA\r\n", "354").await;
        expect_reply(&format!("Subject: n{n}\r\n\r\n..leading dot\r\nend\r\n.\r\n"), "250").await;
    }
    expect_reply("NOOP\r\n", "250").await;
    expect_reply("QUIT\r\n", "221").await;

    for n in 1..=2 {
        let received = sink.next_message(WAIT).await.expect("a message");
        assert_eq!(received.rcpt_to, vec![format!("b{n}@example.test")]);
        assert_eq!(received.subject(), Some(format!("n{n}")));
        assert_eq!(received.text_body(), ".leading dot\nend");
    }
}
