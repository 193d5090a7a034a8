//! Scenario tests: a sender and a receiver through a simulated link with a fake clock.

#![allow(clippy::disallowed_methods, reason = "a test is a driver: its fake clock starts from a real instant")]

mod sim;

use std::time::Duration;

use lifeboat_tftp::client::{ClientRequest, Opening, Started};
use lifeboat_tftp::{
    ClientOptions, Direction, ErrorCode, Mode, Outcome, Packet, Receiver, SERVER_DALLY, Sender, ServerLimits, Timing,
    TransferError, TransferParams, Transmit, negotiate,
};
use sim::{Fate, Way, content, deliver_all, random_policy, run};

const MINUTE: Duration = Duration::from_secs(60);

fn params(blksize: u16, windowsize: u16) -> TransferParams {
    TransferParams { blksize, windowsize, timeout: None }
}

fn pair(data_len: usize, params: TransferParams) -> (Sender, Receiver) {
    let timing = Timing::default();
    // The receiver is a server's: it dallies after the final block, in case its ACK is lost.
    let receiver = Receiver::new(params, None, None, &timing).dally(SERVER_DALLY);
    (Sender::new(params, data_len as u64, None, &timing), receiver)
}

fn assert_complete(sender: &Sender, receiver: &Receiver) {
    assert_eq!(sender.outcome(), Some(&Outcome::Complete));
    assert_eq!(receiver.outcome(), Some(&Outcome::Complete));
}

#[test]
fn lock_step_delivers_every_size_around_block_boundaries() {
    for len in [0, 1, 511, 512, 513, 1023, 1024, 1025, 5000] {
        let data = content(len, len as u64);
        let (sender, receiver) = pair(len, params(512, 1));
        let (trace, sender, receiver) = run(sender, receiver, &data, deliver_all(), MINUTE);
        assert_complete(&sender, &receiver);
        assert_eq!(trace.received, data, "len {len}");
        assert_eq!(trace.data_sent.len(), len / 512 + 1, "len {len}: one DATA per block, nothing resent");
        assert_eq!(sender.stats().bytes, len as u64);
    }
}

#[test]
fn a_multiple_of_the_block_size_ends_with_an_empty_block() {
    let data = content(1024, 1);
    let (sender, receiver) = pair(1024, params(512, 1));
    let (trace, ..) = run(sender, receiver, &data, deliver_all(), MINUTE);
    assert_eq!(trace.data_sent, [1, 2, 3]);
}

#[test]
fn a_loss_at_every_position_is_recovered_in_both_directions() {
    let data = content(512 * 4 + 100, 7);
    for window in [1, 3] {
        for way in [Way::ToReceiver, Way::ToSender] {
            for position in 0..8 {
                let (sender, receiver) = pair(data.len(), params(512, window));
                let policy = Box::new(
                    move |w, n, _: &Packet<'_>| {
                        if w == way && n == position { Fate::Drop } else { Fate::Deliver }
                    },
                );
                let (trace, sender, receiver) = run(sender, receiver, &data, policy, MINUTE);
                assert_complete(&sender, &receiver);
                assert_eq!(trace.received, data, "window {window}, {way:?} packet {position} lost");
            }
        }
    }
}

#[test]
fn duplicated_acks_never_cause_duplicate_data_in_lock_step() {
    let data = content(512 * 20 + 3, 3);
    let (sender, receiver) = pair(data.len(), params(512, 1));
    let policy = Box::new(|_, _, _: &Packet<'_>| Fate::Duplicate);
    let (trace, sender, receiver) = run(sender, receiver, &data, policy, MINUTE);
    assert_complete(&sender, &receiver);
    assert_eq!(trace.received, data);
    // Sorcerer's Apprentice: every block goes out exactly once although every ACK arrives twice
    // and every DATA is answered twice.
    assert_eq!(trace.data_sent.len(), 21);
    assert_eq!(sender.stats().retransmits, 0);
}

#[test]
fn loss_duplication_and_reordering_together_lose_nothing() {
    for seed in 0..40 {
        for (blksize, window) in [(512, 1), (1468, 1), (1468, 4), (512, 16), (8, 64)] {
            let data = content(20_000 + seed as usize * 37, seed);
            let (sender, receiver) = pair(data.len(), params(blksize, window));
            let (trace, sender, receiver) = run(sender, receiver, &data, random_policy(seed, 5, 1, 10), 10 * MINUTE);
            assert_complete(&sender, &receiver);
            assert_eq!(trace.received, data, "seed {seed} blksize {blksize} window {window}");
        }
    }
}

#[test]
fn block_numbers_roll_over_to_zero_past_65535() {
    let blocks = 70_000usize;
    let data = content(8 * blocks + 5, 9);
    let (sender, receiver) = pair(data.len(), params(8, 8));
    let (trace, sender, receiver) = run(sender, receiver, &data, deliver_all(), 10 * MINUTE);
    assert_complete(&sender, &receiver);
    assert_eq!(trace.received, data);
    let wrap = trace.data_sent.windows(2).position(|w| w == [65535, 0]).expect("no 65535 -> 0 step");
    assert_eq!(trace.data_sent[wrap + 2], 1, "block 65537 travels as 1");
    // Windows of 8 end on multiples of 8: block 65536 is acknowledged as 0, block 69632 as 4096.
    assert!(trace.acks_sent.contains(&0) && trace.acks_sent.contains(&4096), "{:?}", &trace.acks_sent[8180..8200]);
    // With loss and reordering on top, the data still arrives intact.
    let (sender, receiver) = pair(data.len(), params(8, 8));
    let (trace, sender, receiver) = run(sender, receiver, &data, random_policy(1, 1, 1, 1), 10 * MINUTE);
    assert_complete(&sender, &receiver);
    assert_eq!(trace.received, data);
}

#[test]
fn files_past_4_gib_keep_64_bit_offsets_through_rollover() {
    // The sender never touches the bytes, so a 4 GiB stream costs only its bookkeeping.
    let len = 4u64 * 1024 * 1024 * 1024 + 1000;
    let timing = Timing::default();
    let mut sender = Sender::new(params(1468, 64), len, None, &timing);
    let now = std::time::Instant::now();
    let mut expected_offset = 0u64;
    let mut last = None;
    while sender.outcome().is_none() {
        let mut highest = None;
        while let Some(Transmit::Data { block, offset, len: n }) = sender.poll_transmit(now) {
            assert_eq!(offset, expected_offset);
            expected_offset += n as u64;
            highest = Some(block);
            last = Some(n);
        }
        sender.handle(now, &Packet::Ack { block: highest.expect("window sent nothing") });
    }
    assert_eq!(sender.outcome(), Some(&Outcome::Complete));
    assert_eq!(expected_offset, len);
    assert_eq!(last, Some((len % 1468) as usize));
    assert_eq!(sender.stats().bytes, len);
}

/// Drops each DATA block in `blocks` the first time it travels.
fn drop_once(blocks: &'static [u16]) -> sim::Policy {
    let mut dropped = Vec::new();
    Box::new(move |w, _, p| match (w, p) {
        (Way::ToReceiver, Packet::Data { block, .. }) if blocks.contains(block) && !dropped.contains(block) => {
            dropped.push(*block);
            Fate::Drop
        }
        _ => Fate::Deliver,
    })
}

#[test]
fn a_gap_in_a_window_is_repaired_without_waiting_for_a_timeout() {
    let data = content(512 * 40, 11);
    let (sender, receiver) = pair(data.len(), params(512, 16));
    let (trace, sender, receiver) = run(sender, receiver, &data, drop_once(&[5]), MINUTE);
    assert_complete(&sender, &receiver);
    assert_eq!(trace.received, data);
    assert_eq!(sender.stats().timeouts, 0, "the gap must be repaired by the receiver's early ACK");
    assert!(trace.acks_sent.starts_with(&[4]), "the receiver acknowledges block 4 at the gap: {:?}", trace.acks_sent);
    assert!(trace.elapsed < Duration::from_millis(100), "took {:?}", trace.elapsed);
}

#[test]
fn losing_the_first_block_of_a_window_is_repaired_by_the_repeated_ack() {
    let data = content(512 * 40, 12);
    let (sender, receiver) = pair(data.len(), params(512, 8));
    let (trace, sender, receiver) = run(sender, receiver, &data, drop_once(&[9]), MINUTE);
    assert_complete(&sender, &receiver);
    assert_eq!(trace.received, data);
    assert_eq!(sender.stats().timeouts, 0);
}

#[test]
fn losing_the_last_block_of_a_window_is_repaired_by_a_tail_probe_not_a_timeout() {
    let data = content(512 * 40, 13);
    // The second window's last block: the first window measured the round trip.
    let (sender, receiver) = pair(data.len(), params(512, 8));
    let (trace, sender, receiver) = run(sender, receiver, &data, drop_once(&[16]), MINUTE);
    assert_complete(&sender, &receiver);
    assert_eq!(trace.received, data);
    assert_eq!(sender.stats().timeouts, 0);
    assert_eq!(sender.stats().retransmits, 1, "only block 16 goes again");
    assert_eq!(trace.data_sent.iter().filter(|&&b| b == 16).count(), 2);
    assert!(trace.elapsed < Duration::from_millis(50), "took {:?}", trace.elapsed);
}

#[test]
fn losing_the_tail_of_a_window_is_repaired_from_the_gap_the_probe_reveals() {
    let data = content(512 * 40, 14);
    let (sender, receiver) = pair(data.len(), params(512, 8));
    let (trace, sender, receiver) = run(sender, receiver, &data, drop_once(&[14, 15, 16]), MINUTE);
    assert_complete(&sender, &receiver);
    assert_eq!(trace.received, data);
    assert_eq!(sender.stats().timeouts, 0);
    assert!(trace.acks_sent.contains(&13), "the probe makes the receiver report its gap: {:?}", trace.acks_sent);
    assert!(trace.elapsed < Duration::from_millis(50), "took {:?}", trace.elapsed);
}

#[test]
fn a_late_ack_costs_one_probed_block_not_a_window() {
    let data = content(512 * 40, 16);
    let (sender, receiver) = pair(data.len(), params(512, 8));
    // The second window's ACK comes 5 ms late, long after its tail probe, whose answer (a
    // second ACK 16) moves the sender on. The third window's ACKs are all 4 ms late, so the
    // late first ACK 16 arrives while that window is out: it must not rewind it.
    let mut delayed = false;
    let policy: sim::Policy = Box::new(move |w, _, p| match (w, p) {
        (Way::ToSender, Packet::Ack { block: 16 }) if !delayed => {
            delayed = true;
            Fate::Delay(Duration::from_millis(5))
        }
        (Way::ToSender, Packet::Ack { block: 24 }) => Fate::Delay(Duration::from_millis(4)),
        _ => Fate::Deliver,
    });
    let (trace, sender, receiver) = run(sender, receiver, &data, policy, MINUTE);
    assert_complete(&sender, &receiver);
    assert_eq!(trace.received, data);
    let sent = |block| trace.data_sent.iter().filter(|&&b| b == block).count();
    assert_eq!((sent(16), sent(24)), (2, 2), "blocks 16 and 24 are probed once each");
    assert_eq!(sent(17), 1, "the late ACK 16 rewound the third window: {:?}", trace.data_sent);
    assert_eq!(sender.stats().retransmits, 2);
    assert_eq!(sender.stats().timeouts, 0);
}

#[test]
fn lock_step_never_probes() {
    let data = content(512 * 10, 15);
    let (sender, receiver) = pair(data.len(), params(512, 1));
    let (trace, sender, receiver) = run(sender, receiver, &data, drop_once(&[5]), MINUTE);
    assert_complete(&sender, &receiver);
    assert_eq!(trace.received, data);
    assert_eq!(sender.stats().timeouts, 1, "a lost lock-step block waits for the timeout");
    assert_eq!(sender.stats().retransmits, 1);
}

#[test]
fn a_vanished_receiver_fails_the_sender_after_bounded_retries() {
    let data = content(5000, 1);
    // Three retries run out (after 1 + 2 + 2 + 2 s) before the first-answer budget (10 s).
    let timing = Timing { max_retries: 3, ..Timing::default() };
    let sender = Sender::new(params(512, 1), data.len() as u64, None, &timing);
    let receiver = Receiver::new(params(512, 1), None, None, &timing);
    let policy: sim::Policy = Box::new(|w, _, _| if w == Way::ToSender { Fate::Drop } else { Fate::Deliver });
    let (trace, sender, _) = run(sender, receiver, &data, policy, 5 * MINUTE);
    assert_eq!(sender.outcome(), Some(&Outcome::Failed(TransferError::TimedOut { retries: timing.max_retries })));
    assert_eq!(trace.data_sent.iter().filter(|&&b| b == 1).count() as u32, timing.max_retries + 1);
    let gave_up = trace.sender_finished.expect("the sender never finished");
    assert!(gave_up < timing.first_answer, "gave up after {gave_up:?}");
}

/// A client that asks for `timeout=255` and never answers must not hold its place for
/// 255 s times eight retries: the first-answer budget ends it, OACK or no OACK.
#[test]
fn a_client_that_never_answers_is_dropped_after_the_first_answer_budget_whatever_its_timeout() {
    let timing = Timing::default();
    let patient = TransferParams { timeout: Some(Duration::from_secs(255)), ..params(1468, 1) };
    for oack in [None, Some(Packet::OptionAck(vec![lifeboat_tftp::TftpOption::new("timeout", "255")]))] {
        let with_oack = oack.is_some();
        let sender = Sender::new(patient, 5000, oack, &timing);
        let receiver = Receiver::new(patient, None, None, &timing);
        let silent: sim::Policy = Box::new(|w, _, _| if w == Way::ToSender { Fate::Drop } else { Fate::Deliver });
        let (trace, sender, _) = run(sender, receiver, &content(5000, 9), silent, 5 * MINUTE);
        assert_eq!(
            sender.outcome(),
            Some(&Outcome::Failed(TransferError::NeverAnswered { waited: timing.first_answer })),
            "OACK: {with_oack}"
        );
        assert_eq!(trace.sender_finished, Some(timing.first_answer), "OACK: {with_oack}");
    }
}

/// The same for a client that stops answering in the middle (killed, unplugged): the transfer
/// ends once it has gone without progress for the silence budget.
#[test]
fn a_client_that_goes_silent_midway_is_dropped_after_the_silence_budget_whatever_its_timeout() {
    let timing = Timing::default();
    let patient = TransferParams { timeout: Some(Duration::from_secs(255)), ..params(512, 1) };
    let data = content(512 * 20, 10);
    let sender = Sender::new(patient, data.len() as u64, None, &timing);
    let receiver = Receiver::new(patient, None, None, &timing);
    // The first five ACKs arrive, then nothing.
    let policy: sim::Policy = Box::new(|w, n, _| if w == Way::ToSender && n >= 5 { Fate::Drop } else { Fate::Deliver });
    let (trace, sender, _) = run(sender, receiver, &data, policy, 5 * MINUTE);
    assert_eq!(sender.outcome(), Some(&Outcome::Failed(TransferError::WentSilent { waited: timing.max_silence })));
    let gave_up = trace.sender_finished.expect("the sender never finished");
    assert!(gave_up >= timing.max_silence && gave_up < timing.max_silence + Duration::from_secs(1), "{gave_up:?}");
}

/// An upload whose client sends the write request, gets our ACK 0 and never sends data.
#[test]
fn an_upload_that_never_starts_ends_after_the_first_answer_budget() {
    let timing = Timing::default();
    let patient = TransferParams { timeout: Some(Duration::from_secs(255)), ..params(512, 1) };
    let mut receiver = Receiver::new(patient, Some(Packet::Ack { block: 0 }), None, &timing);
    let start = std::time::Instant::now();
    let mut now = start;
    let mut acks = 0;
    while receiver.outcome().is_none() {
        while receiver.poll_transmit(now).is_some() {
            acks += 1;
        }
        now = receiver.poll_timeout().expect("a waiting receiver has a deadline");
        receiver.handle_timeout(now);
        assert!(now - start <= MINUTE, "still waiting after a minute");
    }
    assert_eq!(
        receiver.outcome(),
        Some(&Outcome::Failed(TransferError::NeverAnswered { waited: timing.first_answer }))
    );
    assert_eq!(now - start, timing.first_answer);
    assert!(acks >= 3, "ACK 0 was repeated meanwhile ({acks})");
}

#[test]
fn a_dallying_receiver_repeats_a_lost_final_ack_and_one_that_left_cannot() {
    let data = content(1500, 4);
    // The first ACK of block 3, the last, is lost; the sender repeats block 3 after its timeout.
    let lose_final_ack =
        || -> sim::Policy { Box::new(|w, n, _| if w == Way::ToSender && n == 2 { Fate::Drop } else { Fate::Deliver }) };
    let (sender, receiver) = pair(data.len(), params(512, 1));
    let (trace, sender, receiver) = run(sender, receiver, &data, lose_final_ack(), MINUTE);
    assert_complete(&sender, &receiver);
    assert_eq!(trace.acks_sent, [1, 2, 3, 3], "the repeated final block was acknowledged again");
    assert_eq!(trace.received, data);

    // Without dally time the receiver is dropped at its last block: the repeat finds nobody.
    let timing = Timing::default();
    let sender = Sender::new(params(512, 1), data.len() as u64, None, &timing);
    let receiver = Receiver::new(params(512, 1), None, None, &timing);
    let (_, sender, receiver) = run(sender, receiver, &data, lose_final_ack(), 5 * MINUTE);
    assert_eq!(receiver.outcome(), Some(&Outcome::Complete));
    assert!(matches!(sender.outcome(), Some(Outcome::Failed(TransferError::LastAckMissing { .. }))));
}

#[test]
fn a_receiver_is_done_when_its_dally_time_is_over() {
    let timing = Timing::default();
    let mut receiver = Receiver::new(params(512, 1), None, None, &timing).dally(SERVER_DALLY);
    let start = std::time::Instant::now();
    let last = Packet::Data { block: 1, data: b"short".as_slice().into() };
    assert!(receiver.handle(start, &last).is_some());
    assert_eq!(receiver.outcome(), Some(&Outcome::Complete));
    assert!(!receiver.is_done(start), "complete, but still answering a repeat");
    assert_eq!(receiver.poll_timeout(), Some(start + SERVER_DALLY), "the driver wakes at the dally's end");
    assert!(!receiver.is_done(start + SERVER_DALLY - Duration::from_millis(1)));
    assert!(receiver.is_done(start + SERVER_DALLY));
    // A failed transfer is done at once: there is nothing to repeat.
    let mut failed = Receiver::new(params(512, 1), None, Some(2), &timing).dally(SERVER_DALLY);
    assert!(failed.handle(start, &last).is_none());
    assert!(failed.is_done(start), "{:?}", failed.outcome());
    // So is one the driver aborts after the last block (the file could not be stored): the
    // client hears the ERROR instead of the final ACK, and nobody waits for a repeat.
    let mut unstored = Receiver::new(params(512, 1), None, None, &timing).dally(SERVER_DALLY);
    assert!(unstored.handle(start, &last).is_some());
    unstored.abort(lifeboat_tftp::ErrorCode::DiskFull, "disk full");
    assert!(unstored.is_done(start), "{:?}", unstored.outcome());
    assert_eq!(unstored.poll_timeout(), None);
    assert!(matches!(
        unstored.poll_transmit(start),
        Some(Transmit::Packet(Packet::Error { code: lifeboat_tftp::ErrorCode::DiskFull, .. }))
    ));
}

#[test]
fn a_lost_final_ack_is_reported_as_such() {
    let data = content(1500, 4);
    let (sender, receiver) = pair(data.len(), params(512, 1));
    // Every ACK of block 3, the last, is lost: as if the client left right after sending it.
    let policy: sim::Policy = Box::new(|w, n, _| if w == Way::ToSender && n >= 2 { Fate::Drop } else { Fate::Deliver });
    let (trace, sender, receiver) = run(sender, receiver, &data, policy, 5 * MINUTE);
    assert_eq!(trace.received, data);
    assert_eq!(receiver.outcome(), Some(&Outcome::Complete));
    assert!(
        matches!(sender.outcome(), Some(Outcome::Failed(TransferError::LastAckMissing { .. }))),
        "{:?}",
        sender.outcome()
    );
}

#[test]
fn a_vanished_sender_fails_the_receiver_after_the_silence_budget() {
    for window in [1, 8] {
        let data = content(50_000, 3);
        let (sender, receiver) = pair(data.len(), params(512, window));
        // The sender's packets stop after the fifth: it was killed mid-transfer.
        let policy: sim::Policy =
            Box::new(|w, n, _| if w == Way::ToReceiver && n >= 5 { Fate::Drop } else { Fate::Deliver });
        let (trace, _, receiver) = run(sender, receiver, &data, policy, 5 * MINUTE);
        let timing = Timing::default();
        assert_eq!(
            receiver.outcome(),
            Some(&Outcome::Failed(TransferError::WentSilent { waited: timing.max_silence })),
            "window {window}"
        );
        assert!(trace.elapsed < timing.max_silence + Duration::from_secs(1), "window {window}: {:?}", trace.elapsed);
    }
}

/// An upload that announced its size (`tsize`) and sent another amount is a failure: the
/// final ACK never tells the client it worked, and the receiver's outcome says why.
#[test]
fn an_upload_is_held_to_the_size_it_announced() {
    let timing = Timing::default();
    for (announced, sent) in [(3000u64, 3000usize), (3000, 2000), (3000, 1536), (3000, 4000), (1024, 1024)] {
        let data = content(sent, announced);
        let sender = Sender::new(params(512, 1), sent as u64, None, &timing);
        let receiver =
            Receiver::new(params(512, 1), Some(Packet::Ack { block: 0 }), None, &timing).expect_len(announced);
        let (trace, sender, receiver) = run(sender, receiver, &data, deliver_all(), MINUTE);
        if sent as u64 == announced {
            assert_complete(&sender, &receiver);
            assert_eq!(trace.received, data);
            continue;
        }
        let case = format!("announced {announced}, sent {sent}");
        assert!(
            matches!(
                receiver.outcome(),
                Some(Outcome::Failed(TransferError::Aborted { code: ErrorCode::IllegalOperation, message }))
                    if message.contains("announced")
            ),
            "{case}: {:?}",
            receiver.outcome()
        );
        assert!(
            matches!(
                sender.outcome(),
                Some(Outcome::Failed(TransferError::Peer { code: ErrorCode::IllegalOperation, .. }))
            ),
            "{case}: the client must hear of the failure, not get a final ACK: {:?}",
            sender.outcome()
        );
        assert!(trace.received.len() as u64 <= announced, "{case}: more than announced was handed out");
        let last = u16::try_from(sent / 512 + 1).unwrap();
        assert!(!trace.acks_sent.contains(&last), "{case}: the last block was acknowledged");
    }
}

/// A peer's ERROR text is kept bounded and is shown escaped: it can neither fill a log nor
/// start a line of its own in one.
#[test]
fn a_peer_error_message_is_cut_and_shown_escaped() {
    let timing = Timing::default();
    let now = std::time::Instant::now();
    let mut sender = Sender::new(params(512, 1), 5000, None, &timing);
    assert!(sender.poll_transmit(now).is_some());
    let forged = format!("bye\nINFO sent /forged.bin -- complete{}", "x".repeat(60_000));
    sender.handle(now, &Packet::error(ErrorCode::NotDefined, forged));
    let Some(Outcome::Failed(error @ TransferError::Peer { message, .. })) = sender.outcome() else {
        panic!("{:?}", sender.outcome())
    };
    assert!(message.len() < 300, "{} bytes kept", message.len());
    assert!(message.ends_with("(cut: 60037 bytes)"), "{message}");
    let shown = error.to_string();
    assert!(!shown.contains('\n') && shown.contains("bye\\nINFO"), "{shown}");
}

#[test]
fn an_upload_over_the_limit_is_refused_with_disk_full() {
    let data = content(3000, 2);
    let timing = Timing::default();
    let sender = Sender::new(params(512, 1), 3000, None, &timing);
    let receiver = Receiver::new(params(512, 1), Some(Packet::Ack { block: 0 }), Some(2000), &timing);
    let (trace, sender, receiver) = run(sender, receiver, &data, deliver_all(), MINUTE);
    assert!(matches!(
        receiver.outcome(),
        Some(Outcome::Failed(TransferError::Aborted { code: ErrorCode::DiskFull, .. }))
    ));
    assert!(matches!(sender.outcome(), Some(Outcome::Failed(TransferError::Peer { code: ErrorCode::DiskFull, .. }))));
    assert!(trace.received.len() <= 2000);
}

#[test]
fn an_oversized_block_is_an_illegal_operation() {
    let timing = Timing::default();
    let mut receiver = Receiver::new(params(512, 1), None, None, &timing);
    let now = std::time::Instant::now();
    let big = vec![0u8; 513];
    let packet = Packet::Data { block: 1, data: big.into() };
    assert_eq!(receiver.handle(now, &packet), None);
    assert!(matches!(
        receiver.outcome(),
        Some(Outcome::Failed(TransferError::Aborted { code: ErrorCode::IllegalOperation, .. }))
    ));
    assert!(matches!(receiver.poll_transmit(now), Some(Transmit::Packet(Packet::Error { .. }))));
}

/// The full exchange as a server and a client run it: RRQ with options, OACK, ACK 0, data.
fn serve_read(
    options: ClientOptions,
    limits: ServerLimits,
    data: &[u8],
    policy: sim::Policy,
) -> (sim::Trace, Sender, Receiver) {
    let timing = Timing::default();
    let now = std::time::Instant::now();
    let request = ClientRequest::Get { filename: "f".into(), mode: Mode::Octet, options };
    let mut opening = Opening::new(request, &timing);
    let Some(Packet::ReadRequest(rrq)) = opening.poll_transmit(now) else { panic!("no RRQ") };
    let negotiation = negotiate(&rrq.options, &limits, Direction::Read, Some(data.len() as u64));
    let mut sender = Sender::new(negotiation.params, data.len() as u64, negotiation.oack(), &timing);
    let first = match sender.poll_transmit(now) {
        Some(Transmit::Packet(packet)) => packet,
        Some(Transmit::Data { block, offset, len }) => {
            Packet::Data { block, data: data[offset as usize..offset as usize + len].to_vec().into() }
        }
        None => panic!("server sent nothing"),
    };
    let Ok(Some(Started::Get { mut receiver, size, refeed_first_packet })) = opening.handle(&first) else {
        panic!("client did not start")
    };
    assert_eq!(size, negotiation.oack().map(|_| data.len() as u64).filter(|_| options.tsize.is_some()));
    let mut prefix = Vec::new();
    if refeed_first_packet && let Some(chunk) = receiver.handle(now, &first) {
        prefix.extend_from_slice(chunk.data);
    }
    sim::run_after(sender, receiver, data, prefix, policy, MINUTE)
}

#[test]
fn read_with_oack_negotiates_blksize_window_and_tsize() {
    let data = content(100_000, 5);
    let options = ClientOptions { blksize: Some(8192), windowsize: Some(16), tsize: Some(0), timeout: None };
    let (trace, sender, receiver) = serve_read(options, ServerLimits::default(), &data, random_policy(3, 5, 1, 5));
    assert_complete(&sender, &receiver);
    assert_eq!(trace.received, data);
    assert_eq!(sender.params(), TransferParams { blksize: 1468, windowsize: 16, timeout: None });
    assert_eq!(receiver.params(), sender.params());
}

#[test]
fn read_without_options_starts_with_data_1() {
    let data = content(1500, 6);
    let limits = ServerLimits { options_enabled: false, ..ServerLimits::default() };
    let options = ClientOptions { blksize: Some(1468), ..ClientOptions::default() };
    let (trace, sender, receiver) = serve_read(options, limits, &data, deliver_all());
    assert_complete(&sender, &receiver);
    assert_eq!(trace.received, data);
    assert_eq!(sender.params().blksize, 512);
}

#[test]
fn oack_answered_with_error_8_ends_quietly() {
    // UEFI firmware asks for tsize, reads the OACK and answers ERROR 8 before the real transfer.
    let timing = Timing::default();
    let now = std::time::Instant::now();
    let negotiation = negotiate(
        &ClientOptions { tsize: Some(0), blksize: Some(1468), ..ClientOptions::default() }.to_request_options(),
        &ServerLimits::default(),
        Direction::Read,
        Some(10),
    );
    let mut sender = Sender::new(negotiation.params, 10, negotiation.oack(), &timing);
    assert!(matches!(sender.poll_transmit(now), Some(Transmit::Packet(Packet::OptionAck(_)))));
    sender.handle(now, &Packet::error(ErrorCode::OptionsRefused, "tsize only"));
    assert_eq!(sender.outcome(), Some(&Outcome::OptionsDeclined));
    assert_eq!(sender.poll_transmit(now), None);
}

#[test]
fn lost_oack_is_resent_until_ack_0() {
    let data = content(2000, 8);
    let options = ClientOptions { blksize: Some(1024), ..ClientOptions::default() };
    let policy: sim::Policy = Box::new(|w, n, _| if w == Way::ToSender && n == 0 { Fate::Drop } else { Fate::Deliver });
    let (trace, sender, receiver) = serve_read(options, ServerLimits::default(), &data, policy);
    assert_complete(&sender, &receiver);
    assert_eq!(trace.received, data);
}

#[test]
fn client_refuses_an_oack_it_cannot_accept() {
    let timing = Timing::default();
    let request = ClientRequest::Get {
        filename: "f".into(),
        mode: Mode::Octet,
        options: ClientOptions { blksize: Some(512), ..Default::default() },
    };
    let mut opening = Opening::new(request, &timing);
    let oack = Packet::OptionAck(vec![lifeboat_tftp::TftpOption::new("blksize", "1468")]);
    let failed = opening.handle(&oack).unwrap_err();
    assert!(matches!(failed.reply, Some(Packet::Error { code: ErrorCode::OptionsRefused, .. })));
}

#[test]
fn unanswered_request_is_repeated_then_abandoned() {
    let timing = Timing::default();
    let mut now = std::time::Instant::now();
    let request =
        ClientRequest::Put { filename: "f".into(), mode: Mode::Octet, options: ClientOptions::default(), len: 5 };
    let mut opening = Opening::new(request, &timing);
    let mut sent = 0;
    loop {
        while opening.poll_transmit(now).is_some() {
            sent += 1;
        }
        now = opening.poll_timeout().expect("no timer armed");
        if opening.handle_timeout(now).is_err() {
            break;
        }
    }
    assert_eq!(sent, timing.max_retries + 1);
}

#[test]
fn put_starts_on_ack_0_and_on_oack() {
    let timing = Timing::default();
    let put = |options| ClientRequest::Put { filename: "f".into(), mode: Mode::Octet, options, len: 4000 };
    let mut plain = Opening::new(put(ClientOptions::default()), &timing);
    assert!(matches!(plain.handle(&Packet::Ack { block: 0 }), Ok(Some(Started::Put { .. }))));
    let mut with = Opening::new(put(ClientOptions { tsize: Some(4000), ..Default::default() }), &timing);
    let oack = Packet::OptionAck(vec![lifeboat_tftp::TftpOption::new("tsize", "4000")]);
    assert!(matches!(with.handle(&oack), Ok(Some(Started::Put { .. }))));
    assert!(matches!(with.handle(&Packet::Ack { block: 7 }), Ok(None)));
}

#[test]
fn a_peer_error_mid_transfer_fails_with_its_message() {
    let timing = Timing::default();
    let now = std::time::Instant::now();
    let mut sender = Sender::new(params(512, 1), 5000, None, &timing);
    assert!(sender.poll_transmit(now).is_some());
    sender.handle(now, &Packet::error(ErrorCode::DiskFull, "flash full"));
    assert_eq!(
        sender.outcome(),
        Some(&Outcome::Failed(TransferError::Peer { code: ErrorCode::DiskFull, message: "flash full".into() }))
    );
}

/// A transfer that has ended sends nothing more that was queued before its end: not an OACK
/// repeated after a timeout, not an ACK, whatever the driver did not send yet.
#[test]
fn nothing_queued_leaves_once_a_transfer_has_ended() {
    let timing = Timing::default();
    let start = std::time::Instant::now();
    let oack = || Some(Packet::OptionAck(vec![lifeboat_tftp::TftpOption::new("blksize", "512")]));
    // The OACK goes out, times out and is queued again; the peer's ACK 0 or ERROR comes first.
    for answer in [Packet::Ack { block: 0 }, Packet::error(ErrorCode::NotDefined, "bye")] {
        let mut sender = Sender::new(params(512, 1), 5000, oack(), &timing);
        assert!(matches!(sender.poll_transmit(start), Some(Transmit::Packet(Packet::OptionAck(_)))));
        let later = sender.poll_timeout().unwrap();
        sender.handle_timeout(later);
        sender.handle(later, &answer);
        let next = sender.poll_transmit(later);
        assert!(!matches!(next, Some(Transmit::Packet(Packet::OptionAck(_)))), "{answer:?} then {next:?}");
    }
    // A receiver with an ACK queued: the peer's ERROR ends it, and the ACK stays queued no more.
    let mut receiver = Receiver::new(params(512, 2), Some(Packet::Ack { block: 0 }), None, &timing);
    assert!(receiver.poll_transmit(start).is_some());
    receiver.handle(start, &Packet::Data { block: 1, data: vec![0; 512].into() });
    receiver.handle_timeout(receiver.poll_timeout().unwrap());
    receiver.handle(start, &Packet::error(ErrorCode::NotDefined, "bye"));
    assert_eq!(receiver.poll_transmit(start), None);
    // Or its retries run out while an ACK is queued.
    let few = Timing { max_retries: 1, ..Timing::default() };
    let mut receiver = Receiver::new(params(512, 2), Some(Packet::Ack { block: 0 }), None, &few);
    assert!(receiver.poll_transmit(start).is_some());
    receiver.handle_timeout(receiver.poll_timeout().unwrap());
    receiver.handle_timeout(receiver.poll_timeout().unwrap_or(start) + Duration::from_secs(60));
    assert!(receiver.outcome().is_some());
    assert_eq!(receiver.poll_transmit(start), None);
}
