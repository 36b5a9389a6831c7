//! Proves the fake Discord server (tests/support) works with real serenity 0.12.5.

mod support;

use std::time::Duration;

use serde_json::json;
use serenity::all::{
    ApplicationId, ChannelId, ChannelType, Command, CommandOptionType as Kind, CreateActionRow,
    CreateAllowedMentions, CreateAttachment, CreateButton, CreateCommand, CreateCommandOption,
    CreateEmbed, CreateInteractionResponseFollowup, CreateMessage, CreateThread, EditMessage,
    EditThread, GatewayIntents, GuildId, HttpBuilder, InteractionId, UserId,
};
use support::discord::faults::{FaultKind, Faults};
use support::discord::payloads::{Interaction, opt_str};
use support::discord::probe::{
    GUARD, expect_report, http_for, next_report, start_probe_bot, status_of,
};
use support::discord::state::RecordedRequest;
use support::discord::{FakeConfig, FakeDiscord};

#[tokio::test]
async fn serenity_bot_connects_and_answers_every_interaction_kind() {
    let fake = FakeDiscord::start().await;
    let mut reports = start_probe_bot(&fake).await;
    let identify = fake.wait_identified().await;
    assert_eq!(identify.token, fake.token());
    assert_eq!(identify.intents, GatewayIntents::GUILDS.bits());
    expect_report(&mut reports, &format!("ready {}", fake.application_id())).await;
    // GUILD_CREATE, parsed by serenity.
    let guild = format!("guild {} roles 2 members 1", fake.guild_id());
    expect_report(&mut reports, &guild).await;
    assert_eq!(fake.requests_matching("GET", "/gateway").len(), 1);

    let playbook = Interaction::slash_command("playbook", json!([opt_str("id", "T1583.006")]));
    let (id, _token) = fake.send_interaction(playbook).await;
    let response = fake.interaction_response(id).await;
    assert_eq!(response["type"], 4);
    assert_eq!(response["data"]["content"], "pong playbook");
    let parsed = r#"command playbook ["id=Some(\"T1583.006\")"] true Ok("follow")"#;
    expect_report(&mut reports, parsed).await;
    let original = fake.original_response(id).expect("type 4 stores @original");
    assert_eq!(original["content"], "pong playbook");
    let sent = fake.interaction_messages(id);
    assert_eq!(sent.len(), 2, "original and follow-up");

    let (slow, _) = fake.send_interaction(Interaction::command("slow")).await;
    expect_report(&mut reports, r#"slow true Ok("done")"#).await;
    let deferred = fake.original_response(slow).expect("deferred original");
    assert_eq!(deferred["flags"], 0, "the edit clears the loading flag");

    let typing = Interaction::autocomplete("playbook", "search.query", "T15");
    fake.send_interaction(typing).await;
    expect_report(&mut reports, "autocomplete query=T15 true").await;

    let button = Interaction::button("ack:1", &original);
    let (press, _) = fake.send_interaction(button).await;
    expect_report(&mut reports, "component ack:1 [] true").await;
    let updated = fake.original_response(press).expect("update");
    assert_eq!(updated["content"], "acknowledged");
    let select = Interaction::component("answer:q1", 3, &["concerning"], &original);
    fake.send_interaction(select.user(42).roles(&[7])).await;
    expect_report(&mut reports, r#"component answer:q1 ["concerning"] true"#).await;

    let modal = fake.interact(Interaction::command("note")).await;
    assert_eq!(modal["type"], 9, "a modal");
    let submit = Interaction::modal_submit("note:1", &[("text", "looks benign")]);
    let noted = fake.interact(submit).await;
    assert_eq!(noted["data"]["flags"], 64, "an ephemeral answer");
    expect_report(&mut reports, r#"modal note:1 ["text=looks benign"] true"#).await;

    let in_dm = fake.interact(Interaction::command("dm").dm()).await;
    assert_eq!(in_dm["data"]["content"], "pong dm");
    fake.assert_clean();

    assert!(fake.disconnect_gateway(true));
    fake.wait_resume_count(1).await;
    let resumed = fake.interact(Interaction::command("again")).await;
    assert_eq!(resumed["data"]["content"], "pong again");
    fake.assert_clean();
}

#[tokio::test]
async fn protocol_errors_discord_rejects_are_reported() {
    let fake = FakeDiscord::start().await;
    let mut reports = start_probe_bot(&fake).await;
    let (id, token) = fake.send_interaction(Interaction::command("ping")).await;
    expect_report(&mut reports, r#"command ping [] true Ok("follow")"#).await;

    // A duplicate delivery that the bot answers again: Discord says 40060.
    fake.resend_interaction(id).await;
    let report = next_report(&mut reports, "command ping").await;
    assert!(report.starts_with("command ping [] false"), "{report}");
    fake.expect_violation("acknowledged twice");

    // A follow-up sent with the bot's user id where the application id belongs.
    let wrong = ApplicationId::new(fake.bot_user_id());
    let builder = HttpBuilder::new(fake.token()).proxy(fake.api_base());
    let http = builder.application_id(wrong).ratelimiter_disabled(true);
    let http = http.build();
    let follow = CreateInteractionResponseFollowup::new().content("late");
    let err = http.create_followup_message(&token, &follow, vec![]).await;
    assert_eq!(status_of(&err.expect_err("unknown webhook")), Some(404));
    fake.expect_violation("is not the application id");

    // A type 7 update that would leave the message empty: refused (50006), the message kept.
    let answer = fake.original_response(id).expect("the answer to ping");
    fake.send_interaction(Interaction::button("blank", &answer))
        .await;
    expect_report(&mut reports, "component blank [] false").await;
    fake.expect_violation("a message without content, embeds, components or files");
    let kept = fake.original_response(id).expect("still there");
    assert_eq!(kept["content"], answer["content"]);
    assert_eq!(kept["edited_timestamp"], answer["edited_timestamp"]);
}

#[tokio::test]
async fn an_answer_after_the_deadline_is_refused() {
    let config = FakeConfig {
        interaction_deadline: Duration::ZERO,
        ..FakeConfig::default()
    };
    let fake = FakeDiscord::start_with(config).await;
    let mut reports = start_probe_bot(&fake).await;
    fake.send_interaction(Interaction::command("ping")).await;
    let report = next_report(&mut reports, "command ping").await;
    assert!(report.starts_with("command ping [] false Err"), "{report}");
    let violations = fake.violations().join("\n");
    assert!(
        violations.contains("allows 0ns (defer first)"),
        "{violations}"
    );
    fake.expect_violation("webhook call before the interaction was acknowledged");
}

#[tokio::test]
async fn spec_violations_and_unexpected_routes_are_reported() {
    let fake = FakeDiscord::start().await;
    let http = http_for(&fake);
    let channel = ChannelId::new(fake.channel_id());

    let long = json!({ "content": "x".repeat(2001) });
    let err = http.send_message(channel, vec![], &long).await;
    let err = err.expect_err("too long");
    assert_eq!(status_of(&err), Some(400), "{err:?}");
    assert_eq!(fake.violations().len(), 1, "{:?}", fake.violations());
    fake.expect_violation("content: 2001 chars, more than the 2000 Discord allows a bot");
    let stored = fake.messages_in(fake.channel_id());
    assert!(stored.is_empty(), "a rejected body changes nothing");

    // Straight from the spec (when it is there): a thread name must not be empty, …
    if fake.validates_bodies() {
        let nameless = json!({ "name": "", "type": 11 });
        let err = http.create_thread(channel, &nameless, None).await;
        let err = err.expect_err("empty name");
        assert_eq!(status_of(&err), Some(400), "{err:?}");
        fake.expect_violation("[spec] POST /channels/{channel_id}/threads");
        assert!(fake.threads().is_empty());

        // Discord's callbacks: the validator names what breaks and where.
        let choices = vec![json!({ "name": "n", "value": "v" }); 26];
        let autocomplete = json!({ "type": 8, "data": { "choices": choices } });
        let modal = json!({ "type": 9, "data": { "custom_id": "m", "components": [] } });
        let embed = json!({ "type": 4, "data": { "embeds": [{ "title": "x".repeat(257) }] } });
        // A button deep in a type 7 update: the unions on the way (callback kinds, component
        // kinds, button styles) are tried quietly first, yet the error still names the place.
        let button =
            json!({ "type": 2, "style": 9, "label": "q1 Clear", "custom_id": "ans:1:1:k" });
        let row = json!({ "type": 1, "components": [button] });
        let update = json!({ "type": 7, "data": { "components": [row] } });
        // Its tag right (a button), a property past the tag wrong: tags are tried first, the
        // rest is still checked.
        let label = "x".repeat(81);
        let long_label = json!({ "type": 2, "style": 1, "label": label, "custom_id": "ans:1:1:k" });
        let row = json!({ "type": 1, "components": [long_label] });
        let long_update = json!({ "type": 7, "data": { "components": [row] } });
        let cases = [
            (
                update,
                "/data/components/0/components/0/style: expected 1 but got 9",
            ),
            (
                long_update,
                "/data/components/0/components/0/label: string of 81 chars is longer than maxLength 80",
            ),
            (
                autocomplete,
                "/data/choices: 26 items, more than maxItems 25",
            ),
            (modal, "/data: missing required property `title`"),
            (embed, "/data/embeds/0/title: string of 257 chars"),
        ];
        for (body, expected) in cases {
            let interaction = InteractionId::new(1);
            let err = http
                .create_interaction_response(interaction, "t", &body, vec![])
                .await;
            assert_eq!(status_of(&err.expect_err("rejected")), Some(400));
            fake.expect_violation(expected);
        }
    }

    let roles = http.get_guild_roles(GuildId::new(fake.guild_id())).await;
    assert_eq!(status_of(&roles.expect_err("not implemented")), Some(404));
    let guild = fake.guild_id();
    fake.expect_violation(&format!("[unexpected] GET /guilds/{guild}/roles"));

    // A file upload: multipart with payload_json, serenity's numeric attachment id tolerated.
    let file = CreateAttachment::bytes(b"alert,host\n1,ws-17\n".to_vec(), "alerts.csv");
    let evidence = json!({ "content": "evidence" });
    let sent = http.send_message(channel, vec![file], &evidence).await;
    let sent = sent.expect("upload");
    assert_eq!(sent.attachments.len(), 1);
    let with_files =
        |r: &RecordedRequest| r.is("POST", "/channels/*/messages") && !r.files.is_empty();
    let upload = fake.wait_for(with_files, GUARD).await;
    assert_eq!(upload.files[0].filename, "alerts.csv");
    assert_eq!(upload.files[0].bytes, b"alert,host\n1,ws-17\n");
    assert_eq!(upload.json()["content"], "evidence");
    fake.assert_clean();
}

#[tokio::test]
async fn injected_faults_surface_as_errors_and_change_nothing() {
    let fake = FakeDiscord::start().await;
    let http = http_for(&fake);
    let channel = ChannelId::new(fake.channel_id());
    let hello = json!({ "content": "hello" });
    let faults = [
        (
            Faults::always(FaultKind::Status500).only(&["POST /channels/*/messages"]),
            Some(500),
        ),
        (
            Faults::always(FaultKind::Status429 { retry_after: 1.5 }),
            Some(429),
        ),
        (Faults::always(FaultKind::DropConnection), None),
    ];
    for (faults, status) in faults {
        fake.set_faults(faults);
        let err = http.send_message(channel, vec![], &hello).await;
        let err = err.expect_err("faulted");
        assert_eq!(status_of(&err), status, "{err:?}");
    }
    assert!(
        fake.messages_in(fake.channel_id()).is_empty(),
        "faulted requests change no state"
    );
    assert_eq!(
        fake.requests().iter().filter(|r| r.fault.is_some()).count(),
        3
    );

    fake.set_faults(Faults::always(FaultKind::Status500).only(&["/channels/"]));
    assert!(
        http.get_current_user().await.is_ok(),
        "other routes are unaffected"
    );
    fake.set_faults(Faults::always(FaultKind::Status500).times(1));
    http.send_message(channel, vec![], &hello)
        .await
        .expect_err("the one fault");
    http.send_message(channel, vec![], &hello)
        .await
        .expect("works again");
    fake.clear_faults();
    assert_eq!(fake.messages_in(fake.channel_id()).len(), 1);

    // The same seed gives the same faults in the same order.
    let pattern = |fake: FakeDiscord| async move {
        fake.set_faults(Faults {
            fail_ratio: 0.5,
            seed: 7,
            ..Faults::default()
        });
        let http = http_for(&fake);
        let mut outcomes = String::new();
        for _ in 0..12 {
            let ok = http.get_current_user().await.is_ok();
            outcomes.push(if ok { '.' } else { 'x' });
        }
        outcomes
    };
    let first = pattern(FakeDiscord::start().await).await;
    assert_eq!(first, pattern(FakeDiscord::start().await).await);
    assert!(first.contains('x') && first.contains('.'), "{first}");
    fake.assert_clean();
}

#[tokio::test]
async fn routes_socbot_uses_round_trip_through_serenity_cleanly() {
    let fake = FakeDiscord::start().await;
    let http = http_for(&fake);
    let channel = ChannelId::new(fake.channel_id());
    let guild = GuildId::new(fake.guild_id());

    let id = CreateCommandOption::new(Kind::String, "id", "ATT&CK technique").required(true);
    let open = CreateCommandOption::new(Kind::SubCommand, "open", "Open an incident");
    let open = open.add_sub_option(id.clone().set_autocomplete(true));
    let commands = || {
        vec![
            CreateCommand::new("playbook")
                .description("Show a playbook")
                .add_option(id.clone()),
            CreateCommand::new("incident")
                .description("Incidents")
                .add_option(open.clone()),
        ]
    };
    let registered = guild.set_commands(&http, commands()).await;
    let registered = registered.expect("guild commands");
    assert_eq!(registered.len(), 2);
    assert_eq!(registered[0].application_id.get(), fake.application_id());
    let again = guild.set_commands(&http, commands()).await;
    let again = again.expect("overwrite");
    assert_eq!(
        again[1].id, registered[1].id,
        "an overwrite keeps same-named commands' ids"
    );
    Command::set_global_commands(&http, vec![])
        .await
        .expect("global commands");
    assert_eq!(fake.commands(Some(fake.guild_id())).len(), 2);

    let row = CreateActionRow::Buttons(vec![CreateButton::new("ack:INC-1").label("Acknowledge")]);
    let embed = CreateEmbed::new()
        .title("T1583.006")
        .field("Q1", "Seen before?", false);
    let page = CreateMessage::new()
        .content("<@42> you are paged; <@&7> FYI; @everyone")
        .embed(embed)
        .components(vec![row])
        .allowed_mentions(CreateAllowedMentions::new().users(vec![UserId::new(42)]));
    let message = channel.send_message(&http, page).await.expect("message");
    let pinged: Vec<u64> = message.mentions.iter().map(|u| u.id.get()).collect();
    assert_eq!(pinged, vec![42], "allowed_mentions decides who is pinged");
    assert!(message.mention_roles.is_empty() && !message.mention_everyone);
    assert_eq!(message.embeds[0].fields.len(), 1);

    let named = CreateThread::new("INC-1 T1583.006");
    let thread = channel
        .create_thread_from_message(&http, message.id, named)
        .await;
    let thread = thread.expect("thread from message");
    assert_eq!(
        thread.id.get(),
        message.id.get(),
        "Discord gives the thread the message's id"
    );
    assert_eq!(thread.parent_id, Some(channel));
    thread
        .id
        .say(&http, "Q1: was the domain seen before?")
        .await
        .expect("post in thread");
    let archived = thread
        .id
        .edit_thread(&http, EditThread::new().archived(true))
        .await;
    assert!(
        archived
            .expect("archive")
            .thread_metadata
            .expect("metadata")
            .archived
    );
    let private = CreateThread::new("INC-2").kind(ChannelType::PrivateThread);
    let private = channel.create_thread(&http, private).await;
    let private = private.expect("private thread");
    assert_eq!(private.kind, ChannelType::PrivateThread);
    assert_eq!(fake.threads().len(), 2);

    let edit = EditMessage::new().content("acknowledged");
    let edited = channel.edit_message(&http, message.id, edit).await;
    let edited = edited.expect("edit");
    assert_eq!(edited.content, "acknowledged");
    let dm = UserId::new(42)
        .create_dm_channel(&http)
        .await
        .expect("dm channel");
    dm.id
        .say(&http, "You are paged for INC-1")
        .await
        .expect("dm");
    assert_eq!(fake.dm_channel_of(42), Some(dm.id.get()));
    fake.close_dms(43);
    let closed = UserId::new(43)
        .create_dm_channel(&http)
        .await
        .expect("dm channel");
    let refused = closed.id.say(&http, "hello").await.expect_err("closed DMs");
    assert_eq!(status_of(&refused), Some(403));
    fake.assert_clean();
}

#[tokio::test]
async fn heartbeats_are_acknowledged_and_invalid_sessions_reidentify() {
    let config = FakeConfig {
        heartbeat_interval_ms: 100,
        ..FakeConfig::default()
    };
    let fake = FakeDiscord::start_with(config).await;
    let _reports = start_probe_bot(&fake).await;
    fake.wait_identified().await;
    fake.wait_heartbeat_count(3).await;
    let sessions = (fake.identifies().len(), fake.resumes());
    assert_eq!(sessions, (1, 0), "acknowledged heartbeats keep the session");

    // Not resumable: serenity identifies again (after its 5 s pause between identifies).
    assert!(fake.disconnect_gateway(false));
    let second = fake.wait_identify_count(2).await;
    assert_eq!(second.session_id, "fake-session-2");
    let answer = fake.interact(Interaction::command("ping")).await;
    assert_eq!(answer["data"]["content"], "pong ping");
    fake.assert_clean();
}

#[tokio::test]
async fn raw_http_keeps_alive_and_reads_chunked_bodies() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fake = FakeDiscord::start().await;
    let address = fake.api_base().replace("http://", "");
    let mut tcp = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let (auth, channel) = (
        format!("authorization: Bot {}", fake.token()),
        fake.channel_id(),
    );
    let chunked = format!(
        "POST /api/v10/channels/{channel}/messages HTTP/1.1\r\nhost: fake\r\n{auth}\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n\
         b\r\n{{\"content\":\r\na\r\n\"chunked\"}}\r\n0\r\n\r\n\
         GET /api/v10/users/@me HTTP/1.1\r\nhost: fake\r\n{auth}\r\nconnection: close\r\n\r\n"
    );
    tcp.write_all(chunked.as_bytes()).await.expect("write");
    let mut answers = String::new();
    tcp.read_to_string(&mut answers)
        .await
        .expect("read until the server closes");
    assert_eq!(
        answers.matches("HTTP/1.1 200 OK\r\n").count(),
        2,
        "{answers}"
    );
    assert_eq!(fake.messages_in(channel)[0]["content"], "chunked");
    fake.assert_clean();
}

/// Loopback's 64 KiB segments let a sender wait out its 200 ms persist timer whenever the
/// receiver's window shrinks below half its largest (seen: every gateway event stalled for
/// 210 ms, a few runs in ten of the concurrency bench). Discord's segments are Ethernet-sized.
#[tokio::test]
async fn connections_carry_segments_of_an_internet_path_not_of_loopback() {
    let fake = FakeDiscord::start().await;
    for url in [fake.api_base(), fake.gateway_url()] {
        let address = url.split("://").nth(1).expect("a URL with a scheme");
        let tcp = std::net::TcpStream::connect(address).expect("connect");
        let mss = socket2::SockRef::from(&tcp).tcp_mss().expect("TCP_MAXSEG");
        assert!(
            (536..=1460).contains(&mss),
            "{url}: segments of {mss} bytes"
        );
    }
}
