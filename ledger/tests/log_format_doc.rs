//! docs/log-format.md shows the bytes the code produces, byte for byte.

#[path = "../examples/log_format_example.rs"]
#[allow(dead_code)]
mod log_format_example;

#[test]
fn log_format_doc_matches_the_code() {
    let doc_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/log-format.md");
    let doc = std::fs::read_to_string(doc_path).expect("docs/log-format.md");
    let example = log_format_example::worked_example();
    assert!(
        doc.contains(&example),
        "docs/log-format.md no longer shows the worked example; paste the output of \
         `cargo run -p mingzhang-ledger --example log_format_example`:\n{example}"
    );
}

#[test]
fn worked_example_records_form_a_verifiable_log() {
    use mingzhang_ledger::store::{EventStore, FileLog, FileLogOptions, verify_log};
    use mingzhang_proto::Message;
    let root = tempfile::tempdir().expect("tempdir");
    let (log, _) = FileLog::open(root.path(), FileLogOptions::default()).expect("open");
    let payloads = log_format_example::worked_example_envelopes()
        .iter()
        .map(|envelope| envelope.encode_to_vec())
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(log.append(0, payloads)).expect("append");
    log.close().expect("close");
    let file =
        std::fs::read(root.path().join("segment-00000000000000000000.log")).expect("segment");
    let example = log_format_example::worked_example();
    let dumped: Vec<u8> = example
        .lines()
        .filter(|line| {
            line.len() > 6
                && line[..4].bytes().all(|b| b.is_ascii_hexdigit())
                && &line[4..6] == "  "
        })
        .flat_map(|line| {
            line[6..]
                .split(' ')
                .map(|b| u8::from_str_radix(b, 16).expect("hex"))
                .collect::<Vec<_>>()
        })
        .collect();
    let (records, reserved) = file.split_at(dumped.len());
    assert_eq!(
        dumped, records,
        "the example's bytes are the file the log writes"
    );
    assert!(
        reserved.iter().all(|&byte| byte == 0),
        "after the last record the last segment holds only reserved zeros"
    );
    assert_eq!(verify_log(root.path(), |_| {}).expect("verify").records, 3);
}

#[test]
fn worked_example_records_are_what_the_rules_accept() {
    let mut replayer = mingzhang_ledger::replay::Replayer::default();
    for (seq, envelope) in log_format_example::worked_example_envelopes()
        .iter()
        .enumerate()
    {
        if let Err(error) = replayer.check(seq as u64, envelope) {
            panic!("the worked example is not a log the write side writes: {error}");
        }
    }
}
