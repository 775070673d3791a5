//! End to end in a real headless Chromium: the transparency page on the
//! Kaixuan demo, its key figures in the DOM, a receipt verified by the
//! page's own script (SHA-256, RFC 6962 inclusion proof and the Ed25519
//! checkpoint signature through WebCrypto), the language switch, and
//! screenshots at phone and desktop widths in tests/artifacts/.
//!
//! Chromium is driven over the DevTools protocol on a pipe
//! (`--remote-debugging-pipe`: commands on fd 3, replies on fd 4, each
//! message ended by a NUL byte), so no WebSocket client is needed.
//!
//! Receipts are built here from the records' exact bytes with a tiny RFC 6962
//! tree and a signed note, as the Merkle layer will issue them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer, SigningKey};
use mingzhang_api::page::{PageSource, page_router};
use mingzhang_ledger::record::{GENESIS_PREV_HASH, Hash, StoredRecord};
use mingzhang_ledger::scenario;
use mingzhang_ledger::state::LedgerState;
use mingzhang_projections::Projections;
use mingzhang_proto::v1::EventEnvelope;
use prost::Message;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[path = "support/chromium.rs"]
mod chromium;

use chromium::Browser;

const ORIGIN: &str = "mingzhang.example/kaixuan";

// -- the demo log, its Merkle tree and a signed checkpoint -------------------

struct DemoLog {
    records: Vec<StoredRecord>,
    projections: Projections,
}

fn kaixuan_log() -> DemoLog {
    let mut state = LedgerState::default();
    let mut projections = Projections::default();
    let mut records: Vec<StoredRecord> = Vec::new();
    for (seq, (command, meta)) in scenario::kaixuan().into_iter().enumerate() {
        let event = mingzhang_ledger::decide::decide_as(&state, &meta.principal, command)
            .expect("the Kaixuan scenario is valid");
        state.apply(&event);
        let envelope = EventEnvelope {
            recorded_at_unix_ms: meta.at_unix_ms,
            actor: meta.actor.clone(),
            event: Some(event),
            ..Default::default()
        };
        let prev_hash = records.last().map_or(GENESIS_PREV_HASH, |r| r.hash());
        records.push(StoredRecord::encode(
            seq as u64,
            &prev_hash,
            &envelope.encode_to_vec(),
        ));
        projections
            .apply(seq as u64, &envelope)
            .expect("the demo log applies");
    }
    DemoLog {
        records,
        projections,
    }
}

fn leaf_hash(bytes: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(bytes);
    hasher.finalize().into()
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// MTH(D[n]), RFC 6962 §2.1.
fn tree_root(leaves: &[Hash]) -> Hash {
    assert!(!leaves.is_empty());
    if leaves.len() == 1 {
        return leaves[0];
    }
    let split = leaves.len().next_power_of_two() / 2;
    node_hash(&tree_root(&leaves[..split]), &tree_root(&leaves[split..]))
}

/// PATH(m, D[n]), RFC 6962 §2.1.1.
fn inclusion_path(index: usize, leaves: &[Hash]) -> Vec<Hash> {
    if leaves.len() <= 1 {
        return Vec::new();
    }
    let split = leaves.len().next_power_of_two() / 2;
    if index < split {
        let mut path = inclusion_path(index, &leaves[..split]);
        path.push(tree_root(&leaves[split..]));
        path
    } else {
        let mut path = inclusion_path(index - split, &leaves[split..]);
        path.push(tree_root(&leaves[..split]));
        path
    }
}

struct Signed {
    checkpoint: String,
    verifier_key: String,
}

/// A C2SP signed note over "origin\nsize\nroot\n" with an Ed25519 key.
fn signed_checkpoint(tree_size: usize, root: &Hash) -> Signed {
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let public = key.verifying_key().to_bytes();
    let mut key_id_input = Vec::new();
    key_id_input.extend_from_slice(ORIGIN.as_bytes());
    key_id_input.push(b'\n');
    key_id_input.push(0x01);
    key_id_input.extend_from_slice(&public);
    let key_id = &Sha256::digest(&key_id_input)[..4];
    let body = format!("{ORIGIN}\n{tree_size}\n{}\n", BASE64.encode(root));
    let signature = key.sign(body.as_bytes()).to_bytes();
    let mut blob = key_id.to_vec();
    blob.extend_from_slice(&signature);
    let mut encoded_key = vec![0x01];
    encoded_key.extend_from_slice(&public);
    Signed {
        checkpoint: format!("{body}\n\u{2014} {ORIGIN} {}\n", BASE64.encode(blob)),
        verifier_key: format!(
            "{ORIGIN}+{}+{}",
            hex::encode(key_id),
            BASE64.encode(encoded_key)
        ),
    }
}

fn receipt(log: &DemoLog, seq: usize, leaves: &[Hash], checkpoint: &str) -> String {
    json!({
        "seq": seq,
        "record": BASE64.encode(log.records[seq].bytes()),
        "tree_size": leaves.len(),
        "inclusion_proof": inclusion_path(seq, leaves).iter().map(hex::encode).collect::<Vec<_>>(),
        "checkpoint": checkpoint,
    })
    .to_string()
}

fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Serves the page over the demo on a free loopback port; returns its base URL.
fn serve_page(runtime: &tokio::runtime::Runtime, source: PageSource) -> String {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    runtime.spawn(async move {
        axum::serve(listener, page_router(source)).await.unwrap();
    });
    format!("http://{address}")
}

fn text_of(browser: &mut Browser, id: &str) -> String {
    browser
        .eval(&format!("document.getElementById('{id}').textContent"))
        .as_str()
        .unwrap_or_else(|| panic!("no element #{id}"))
        .to_owned()
}

/// Pastes `receipt` into the checker, presses Check, and returns the outcome
/// and message the page's script settled on.
fn check_receipt(browser: &mut Browser, receipt: &str) -> (String, String) {
    browser.eval(&format!(
        "document.getElementById('receipt-input').value = {}; \
         document.getElementById('receipt-result').setAttribute('data-outcome', 'none'); \
         document.getElementById('receipt-check').click(); true",
        json!(receipt)
    ));
    browser.wait_for(
        "['verified','inclusion-only','failed'].includes(\
         document.getElementById('receipt-result').getAttribute('data-outcome'))",
    );
    let outcome = browser
        .eval("document.getElementById('receipt-result').getAttribute('data-outcome')")
        .as_str()
        .unwrap()
        .to_owned();
    (outcome, text_of(browser, "receipt-result"))
}

#[test]
fn transparency_page_shows_the_demo_and_verifies_a_receipt_in_chromium() {
    let log = kaixuan_log();
    let leaves: Vec<Hash> = log.records.iter().map(|r| leaf_hash(r.bytes())).collect();
    let signed = signed_checkpoint(leaves.len(), &tree_root(&leaves));
    let donation_seq = log
        .records
        .iter()
        .position(|record| {
            let envelope = EventEnvelope::decode(record.payload()).unwrap();
            matches!(
                envelope.event,
                Some(mingzhang_proto::v1::event_envelope::Event::DonationReceived(_))
            )
        })
        .unwrap();
    let good_receipt = receipt(&log, donation_seq, &leaves, &signed.checkpoint);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let checkpoint = signed.checkpoint.clone();
    let source = PageSource::new(Arc::new(parking_lot::RwLock::new(log.projections)))
        .with_checkpoint(Arc::new(move || Some(checkpoint.clone())))
        .with_verifier_key(Some(signed.verifier_key.clone()))
        .with_as_of(Some("2016-12-31".to_owned()));
    let base = serve_page(&runtime, source);
    let artifacts = artifacts_dir();
    let mut browser = Browser::launch();

    // The overview on a 375 px phone: the headline figures in the DOM.
    browser.set_width(375, true);
    browser.open(&format!("{base}/"));
    assert_eq!(text_of(&mut browser, "campaign-target"), "10,000,000.00");
    assert_eq!(text_of(&mut browser, "campaign-raised"), "2,653,588.88");
    assert_eq!(text_of(&mut browser, "round-shortlisted"), "26");
    assert_eq!(
        text_of(&mut browser, "record-count"),
        log.records.len().to_string()
    );
    let page_width = browser.eval("document.documentElement.scrollWidth");
    assert!(
        page_width.as_u64().unwrap() <= 375,
        "the phone page scrolls sideways: {page_width}"
    );
    browser.screenshot(&artifacts.join("page-overview-375.png"));
    browser.screenshot_viewport(&artifacts.join("page-overview-375-top.png"));

    // The receipt checker: a genuine receipt verifies, signature included.
    browser.open(&format!("{base}/verify"));
    let (outcome, message) = check_receipt(&mut browser, &good_receipt);
    assert_eq!(outcome, "verified", "{message}");
    assert!(message.starts_with("核验通过"), "{message}");
    browser.screenshot(&artifacts.join("page-verify-375.png"));

    // One byte of the record changed: the proof no longer reaches the root.
    let mut tampered: Value = serde_json::from_str(&good_receipt).unwrap();
    let mut record = log.records[donation_seq].bytes().to_vec();
    let last = record.len() - 40;
    record[last] ^= 1;
    tampered["record"] = json!(BASE64.encode(&record));
    let (outcome, message) = check_receipt(&mut browser, &tampered.to_string());
    assert_eq!(outcome, "failed", "{message}");
    assert!(message.starts_with("核验失败"), "{message}");
    assert!(message.contains("记录已损坏"), "{message}");

    // One bit of the inclusion proof changed: the root differs.
    let mut bent: Value = serde_json::from_str(&good_receipt).unwrap();
    let mut first = hex::decode(bent["inclusion_proof"][0].as_str().unwrap()).unwrap();
    first[0] ^= 1;
    bent["inclusion_proof"][0] = json!(hex::encode(first));
    let (outcome, message) = check_receipt(&mut browser, &bent.to_string());
    assert_eq!(outcome, "failed", "{message}");
    assert!(message.contains("树根与检查点不符"), "{message}");

    // A checkpoint whose signature was forged fails even with a valid proof.
    let mut forged: Value = serde_json::from_str(&good_receipt).unwrap();
    let forged_checkpoint = signed.checkpoint.clone();
    let mut lines: Vec<&str> = forged_checkpoint.split('\n').collect();
    let signature_line = lines[4].to_owned();
    let mut signature_bytes = BASE64
        .decode(signature_line.rsplit(' ').next().unwrap())
        .unwrap();
    signature_bytes[10] ^= 0x80;
    let broken_line = format!("\u{2014} {ORIGIN} {}", BASE64.encode(signature_bytes));
    lines[4] = &broken_line;
    forged["checkpoint"] = json!(lines.join("\n"));
    let (outcome, message) = check_receipt(&mut browser, &forged.to_string());
    assert_eq!(outcome, "failed", "{message}");
    assert!(message.contains("签名无效"), "{message}");

    // The language switch: a visible link to English, and back.
    browser.open(&format!("{base}/"));
    browser.eval("setTimeout(() => document.getElementById('lang-en').click(), 0); true");
    browser
        .wait_for("document.readyState === 'complete' && document.documentElement.lang === 'en'");
    assert!(
        browser
            .eval("document.body.innerText.includes('Shortlisted')")
            .as_bool()
            .unwrap()
    );
    assert_eq!(text_of(&mut browser, "campaign-target"), "10,000,000.00");
    browser.set_width(1280, false);
    browser.screenshot(&artifacts.join("page-overview-1280-en.png"));
    browser.eval("setTimeout(() => document.getElementById('lang-zh').click(), 0); true");
    browser.wait_for(
        "document.readyState === 'complete' && document.documentElement.lang === 'zh-CN'",
    );
    browser.screenshot(&artifacts.join("page-overview-1280.png"));
}

/// What the checker said the verified record is, once it has said it.
fn record_summary(browser: &mut Browser) -> String {
    browser.wait_for("document.getElementById('receipt-record-summary').textContent !== ''");
    text_of(browser, "receipt-record-summary")
}

/// The whole flow a donor meets, on the real server: the operator records a
/// gift, the answer carries a receipt link, and the link, opened without any
/// token on a phone, checks the receipt in the browser and says what it is.
#[test]
fn a_recorded_donation_s_receipt_link_verifies_in_chromium() {
    let data_dir = tempfile::tempdir().unwrap();
    mingzhang_tests::run_cli(data_dir.path(), &["init"]);
    // About half of all keys have a "+" in their base64, which the checker
    // once took for a separator of the key's text: this server's key has one.
    let key_name = mingzhang_api::transparency::DEFAULT_ORIGIN;
    let (private_path, public_path) = mingzhang_api::transparency::key_paths(data_dir.path());
    let (private_text, public_text) = (0u8..=255)
        .map(|seed| {
            let key = SigningKey::from_bytes(&[seed; 32]);
            let mut public = vec![0x01];
            public.extend_from_slice(&key.verifying_key().to_bytes());
            let key_id = &Sha256::digest([key_name.as_bytes(), b"\n", &public].concat())[..4];
            let mut private = vec![0x01];
            private.extend_from_slice(&[seed; 32]);
            (
                format!(
                    "PRIVATE+KEY+{key_name}+{}+{}",
                    hex::encode(key_id),
                    BASE64.encode(private)
                ),
                format!(
                    "{key_name}+{}+{}",
                    hex::encode(key_id),
                    BASE64.encode(public)
                ),
            )
        })
        .find(|(_, public)| public.splitn(3, '+').nth(2).unwrap().contains('+'))
        .expect("a key with a + in its base64");
    std::fs::create_dir_all(private_path.parent().unwrap()).unwrap();
    std::fs::write(&private_path, private_text).unwrap();
    std::fs::write(&public_path, format!("{public_text}\n")).unwrap();
    let operator =
        mingzhang_tests::run_cli(data_dir.path(), &["token", "create", "--role", "operator"])
            .trim()
            .to_owned();
    let served = mingzhang_tests::serve(data_dir.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        let request = client
            .post(format!("{}{path}", served.http))
            .bearer_auth(&operator)
            .json(&body);
        runtime.block_on(async {
            let response = request.send().await.unwrap();
            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            response.json::<Value>().await.unwrap()
        })
    };
    post(
        "/v1/funds",
        json!({"fund_id": "kaixuan-charity", "name": "凯旋街道社区发展基金", "kind": "unrestricted"}),
    );
    post(
        "/v1/donors",
        json!({"donor_id": "resident-07", "name": "李建国", "kind": "individual"}),
    );
    let answer = post(
        "/v1/donations",
        json!({"donation_id": "gift-1", "donor_id": "resident-07", "fund_id": "kaixuan-charity",
               "amount": "1234.56", "channel": "cash", "received_on": "2015-11-20"}),
    );
    let link = answer["receipt_link"]
        .as_str()
        .expect("a receipt link")
        .to_owned();

    let artifacts = artifacts_dir();
    let mut browser = Browser::launch();
    browser.set_width(390, true);
    browser.open(&format!("{}{link}", served.http));
    browser.wait_for(
        "['verified','inclusion-only','failed'].includes(\
         document.getElementById('receipt-result').getAttribute('data-outcome'))",
    );
    let outcome =
        browser.eval("document.getElementById('receipt-result').getAttribute('data-outcome')");
    assert_eq!(
        outcome,
        json!("verified"),
        "{}",
        text_of(&mut browser, "receipt-result")
    );
    assert_eq!(
        record_summary(&mut browser),
        "这条记录是：一笔 1,234.56 元的捐赠，进入凯旋街道社区发展基金，日期 2015-11-20。"
    );
    let page_text = browser
        .eval("document.body.innerText")
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !page_text.contains("李建国"),
        "a person not to be named: {page_text}"
    );
    let page_width = browser.eval("document.documentElement.scrollWidth");
    assert!(
        page_width.as_u64().unwrap() <= 390,
        "scrolls sideways: {page_width}"
    );
    browser.screenshot(&artifacts.join("page-receipt-link-390.png"));

    browser.open(&format!("{}{link}?lang=en", served.http));
    assert_eq!(
        record_summary(&mut browser),
        "This record is a donation of CNY 1,234.56 to 凯旋街道社区发展基金 on 2015-11-20."
    );

    // The receipt file, pasted into /verify, is checked and said alike.
    let file = runtime.block_on(async {
        client
            .get(format!("{}{link}/receipt.json", served.http))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    browser.open(&format!("{}/verify", served.http));
    let (outcome, message) = check_receipt(&mut browser, &file);
    assert_eq!(outcome, "verified", "{message}");
    assert_eq!(
        record_summary(&mut browser),
        "这条记录是：一笔 1,234.56 元的捐赠，进入凯旋街道社区发展基金，日期 2015-11-20。"
    );
    browser.screenshot(&artifacts.join("page-verify-receipt-file-390.png"));

    // A record that is no gift is checked and said to be none.
    let fund_receipt = runtime.block_on(async {
        client
            .get(format!("{}/v1/receipts/0", served.http))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    let (outcome, message) = check_receipt(&mut browser, &fund_receipt);
    assert_eq!(outcome, "verified", "{message}");
    assert_eq!(record_summary(&mut browser), "这条记录不是一笔捐赠。");
}

#[test]
fn correction_notes_the_stated_date_and_a_fund_account_show_in_chromium() {
    let log = kaixuan_log();
    let newest = log.projections.newest_recorded_on().render();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // As `serve` shows the demo: no date configured.
    let source = PageSource::new(Arc::new(parking_lot::RwLock::new(log.projections)));
    let base = serve_page(&runtime, source);
    let artifacts = artifacts_dir();
    let mut browser = Browser::launch();
    browser.set_width(375, true);

    browser.open(&format!("{base}/"));
    assert_eq!(text_of(&mut browser, "as-of-date"), newest);
    assert!(text_of(&mut browser, "as-of").contains("账本最新一条记录的日期"));
    let notes = text_of(&mut browser, "corrections");
    for expected in [
        "更正说明",
        "重复录入更正",
        "不计入收入",
        "经营调整",
        "认领单位搬离辖区",
        "捐赠人申请部分退回",
        "2016-12-31",
    ] {
        assert!(notes.contains(expected), "{expected} in {notes}");
    }
    assert!(
        browser
            .eval("document.querySelector('#corrections li[data-kind=donation_reversal] .duplicate-entry') !== null")
            .as_bool()
            .unwrap(),
        "the reversed duplicate is labelled as a duplicate-entry correction"
    );
    browser.eval("document.getElementById('corrections').scrollIntoView(); true");
    browser.screenshot_viewport(&artifacts.join("page-corrections-375.png"));

    // A fund's account: the in and out columns of the first page, and the
    // figures they sum to when every page is read.
    browser.open(&format!("{base}/funds/special-support"));
    let sums = browser.eval(
        "(() => { const fen = t => t.trim() === '' ? 0 : Math.round(parseFloat(t.replace(/,/g, '')) * 100); \
          const sum = sel => [...document.querySelectorAll(sel)].reduce((a, td) => a + fen(td.textContent), 0); \
          const balances = [...document.querySelectorAll('td.balance')]; \
          return [sum('td.in'), sum('td.out'), fen(balances[balances.length - 1].textContent), \
                  fen(document.getElementById('fund-in').textContent), \
                  fen(document.getElementById('fund-out').textContent), \
                  fen(document.getElementById('fund-held').textContent), \
                  document.getElementById('next-page') === null]; })()",
    );
    let sums = sums.as_array().unwrap();
    assert_eq!(
        sums[6],
        json!(true),
        "the special support fund fits one page"
    );
    assert_eq!(sums[0], sums[3], "in column = total in: {sums:?}");
    assert_eq!(sums[1], sums[4], "out column = total out: {sums:?}");
    assert_eq!(sums[2], sums[5], "last balance = held: {sums:?}");
    let page_width = browser.eval("document.documentElement.scrollWidth");
    assert!(page_width.as_u64().unwrap() <= 375, "{page_width}");
    browser.screenshot(&artifacts.join("page-fund-375.png"));
}

/// Widths a public page must fit without sideways scrolling: a common phone
/// and a common laptop.
const VIEWPORT_WIDTHS: [u32; 2] = [390, 1366];

/// What at the current width scrolls or is cut off sideways, described for a
/// failure message: the page wider than the viewport, an element reaching
/// past it, or an element whose content is wider than its box where the box
/// hides or scrolls the rest. Empty when everything fits.
const SIDEWAYS_OVERFLOW_JS: &str = "(() => {
  const width = document.documentElement.clientWidth;
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  const found = [];
  if (document.scrollingElement.scrollWidth > width) {
    found.push('the page is ' + document.scrollingElement.scrollWidth + ' px wide');
  }
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('svg') && el.tagName.toLowerCase() !== 'svg') continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (box.right > width + 1 || box.left < -1) {
      found.push(name(el) + ' reaches ' + Math.round(box.left) + '..' + Math.round(box.right));
    }
    const overflow = getComputedStyle(el).overflowX;
    if (overflow !== 'visible' && el.scrollWidth > el.clientWidth + 1) {
      found.push(name(el) + ' hides ' + (el.scrollWidth - el.clientWidth) + ' px sideways (overflow ' + overflow + ')');
    }
    if (found.length >= 12) break;
  }
  return found;
})()";

/// Every public HTML page: the index pages, the home page, /verify, and the
/// first page of each kind the home page links to, and every fund.
fn public_paths(browser: &mut Browser, base: &str) -> Vec<String> {
    browser.set_width(1366, false);
    browser.open(&format!("{base}/"));
    let linked = browser.eval(
        "(() => { const paths = [...document.querySelectorAll('main a[href^=\"/\"]')] \
           .map(a => a.getAttribute('href')).filter(href => !href.startsWith('/exports/')); \
         const first = prefix => paths.find(path => path.startsWith(prefix)); \
         return [...new Set([first('/projects/'), first('/grants/'), first('/sponsors/'), \
           ...paths.filter(path => path.startsWith('/funds/'))])]; })()",
    );
    let mut paths: Vec<String> = [
        "/",
        "/verify",
        "/projects",
        "/sponsors",
        "/grants",
        "/rounds",
        "/projects?status=completed",
    ]
    .map(String::from)
    .to_vec();
    for path in linked.as_array().unwrap() {
        paths.push(
            path.as_str()
                .expect("a linked page of each kind")
                .to_owned(),
        );
    }
    assert!(paths.len() >= 12, "{paths:?}");
    paths
}

/// `url` in English.
fn with_english(url: &str) -> String {
    if url.contains('?') {
        format!("{url}&lang=en")
    } else {
        format!("{url}?lang=en")
    }
}

/// The page's own words with what may be in another language taken out:
/// text recorded in the log (marked translate="no"), anything marked with
/// its own language (the language switch), code and the checker's script.
const PAGE_COPY_JS: &str = "(() => {
  const copy = document.body.cloneNode(true);
  copy.querySelectorAll('[translate=no], [lang], code, pre, script, style, textarea').forEach(el => el.remove());
  return copy.textContent.replace(/\\s+/g, ' ');
})()";

/// No Chinese page holds an English sentence (three or more Latin words in
/// a row) and no English page a Han character, outside recorded names.
#[test]
fn chinese_pages_read_in_chinese_and_english_pages_in_english() {
    let log = kaixuan_log();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let source = PageSource::new(Arc::new(parking_lot::RwLock::new(log.projections)))
        .with_as_of(Some("2016-12-31".to_owned()));
    let base = serve_page(&runtime, source);
    let mut browser = Browser::launch();
    let paths = public_paths(&mut browser, &base);
    let english_sentence = regex_lite_sentence();
    assert_eq!(
        english_sentence("募集 Raise 10,000,000 CNY in five years。"),
        vec!["CNY in five years".to_owned()]
    );
    assert!(english_sentence("核验 RFC 6962 与 SHA-256").is_empty());
    let mut failures = Vec::new();
    for path in &paths {
        browser.open(&format!("{base}{path}"));
        let copy = browser.eval(PAGE_COPY_JS).as_str().unwrap().to_owned();
        assert!(
            copy.contains("明账"),
            "{path}: the page copy is read: {copy}"
        );
        for sentence in english_sentence(&copy) {
            failures.push(format!("{path} (Chinese) has English: {sentence:?}"));
        }
        browser.open(&with_english(&format!("{base}{path}")));
        let copy = browser.eval(PAGE_COPY_JS).as_str().unwrap().to_owned();
        let han: String = copy
            .chars()
            .filter(|c| {
                ('\u{4e00}'..='\u{9fff}').contains(c)
                    || ('\u{3000}'..='\u{303f}').contains(c)
                    || ('\u{ff00}'..='\u{ffef}').contains(c)
            })
            .collect();
        if !han.is_empty() {
            failures.push(format!("{path} (English) has Chinese: {han:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Finds runs of three or more Latin words separated only by spaces.
fn regex_lite_sentence() -> impl Fn(&str) -> Vec<String> {
    |text: &str| {
        let mut found = Vec::new();
        let mut run: Vec<&str> = Vec::new();
        for token in text.split(' ') {
            let word = token.trim_matches(|c: char| ",.;:!?()\"'，。；：！？（）、".contains(c));
            if !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphabetic() || c == '-' || c == '\'')
                && word.chars().any(|c| c.is_ascii_alphabetic())
            {
                run.push(word);
            } else {
                if run.len() >= 3 {
                    found.push(run.join(" "));
                }
                run.clear();
            }
        }
        if run.len() >= 3 {
            found.push(run.join(" "));
        }
        found
    }
}

/// Every public page, both languages, at a phone's and a laptop's width:
/// nothing is wider than the viewport and nothing hides content sideways.
/// Screenshots of each are left in tests/artifacts/viewport/.
#[test]
fn every_public_page_fits_a_phone_and_a_laptop_in_both_languages() {
    let log = kaixuan_log();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let source = PageSource::new(Arc::new(parking_lot::RwLock::new(log.projections)))
        .with_as_of(Some("2016-12-31".to_owned()));
    let base = serve_page(&runtime, source);
    let artifacts = artifacts_dir().join("viewport");
    std::fs::create_dir_all(&artifacts).unwrap();
    let mut browser = Browser::launch();

    let paths = public_paths(&mut browser, &base);

    let mut failures = Vec::new();
    for path in &paths {
        for lang in ["zh", "en"] {
            let url = match lang {
                "en" => with_english(&format!("{base}{path}")),
                _ => format!("{base}{path}"),
            };
            for width in VIEWPORT_WIDTHS {
                browser.set_width(width, width < 600);
                browser.open(&url);
                let found = browser.eval(SIDEWAYS_OVERFLOW_JS);
                let found = found.as_array().unwrap();
                if !found.is_empty() {
                    failures.push(format!("{path} {lang} {width}px: {found:?}"));
                }
                let file = format!(
                    "{}-{lang}-{width}.png",
                    path.trim_matches('/').replace(['/', '?', '='], "-")
                );
                let file = if path == "/" {
                    format!("home-{lang}-{width}.png")
                } else {
                    file
                };
                browser.screenshot(&artifacts.join(file));
                if path == "/" {
                    browser.eval("document.getElementById('monthly').scrollIntoView(); true");
                    browser.screenshot_viewport(
                        &artifacts.join(format!("home-chart-{lang}-{width}.png")),
                    );
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "pages scroll or hide content sideways:\n{}",
        failures.join("\n")
    );
}

// -- documents (docs/documents.md) -------------------------------------------

/// Uploads `body` as the operator under its own SHA-256; the server's answer.
fn upload_document(
    runtime: &tokio::runtime::Runtime,
    base: &str,
    operator: &str,
    body: &[u8],
) -> Value {
    let hash = hex::encode(Sha256::digest(body));
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .put(format!("{base}/v1/documents/{hash}"))
            .bearer_auth(operator)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::CREATED);
        let stored: Value = response.json().await.unwrap();
        assert_eq!(
            stored["references"][0]["kind"], "project_completion",
            "{stored}"
        );
        stored
    })
}

/// Opens `url` and waits for the page's document check to settle; its
/// state (`verified`, `mismatched`, `unavailable`) and text.
fn document_check(browser: &mut Browser, url: &str) -> (String, String) {
    browser.open(url);
    browser.wait_for(
        "(() => { const check = document.querySelector('[data-document-check]'); \
         return check !== null && check.dataset.state !== 'checking'; })()",
    );
    let state = browser.eval("document.querySelector('[data-document-check]').dataset.state");
    let text = browser.eval("document.querySelector('[data-document-check]').textContent");
    (
        state.as_str().unwrap().to_owned(),
        text.as_str().unwrap().to_owned(),
    )
}

#[test]
fn the_page_verifies_a_stored_report_and_flags_one_changed_on_disk_in_chromium() {
    let data_dir = tempfile::tempdir().unwrap();
    mingzhang_tests::run_cli(data_dir.path(), &["init"]);
    mingzhang_tests::run_cli(data_dir.path(), &["demo"]);
    let operator =
        mingzhang_tests::run_cli(data_dir.path(), &["token", "create", "--role", "operator"])
            .trim()
            .to_owned();
    let server = mingzhang_tests::serve(data_dir.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // The demo records the hashes of these texts as two projects' completion reports.
    upload_document(
        &runtime,
        &server.http,
        &operator,
        b"completion report of pd2015-01",
    );
    let tampered = upload_document(
        &runtime,
        &server.http,
        &operator,
        b"completion report of pd2015-00",
    );
    let tampered_path = data_dir
        .path()
        .join("documents")
        .join(tampered["sha256"].as_str().unwrap());
    std::fs::write(&tampered_path, b"completion report of pd2015-0X").unwrap();

    let mut browser = Browser::launch();
    let (state, text) =
        document_check(&mut browser, &format!("{}/projects/pd2015-01", server.http));
    assert_eq!(state, "verified", "{text}");
    assert!(text.contains("已核对"), "{text}");
    let (state, text) = document_check(
        &mut browser,
        &format!("{}/projects/pd2015-01?lang=en", server.http),
    );
    assert_eq!(
        (state.as_str(), text.contains("verified")),
        ("verified", true),
        "{text}"
    );

    let (state, text) =
        document_check(&mut browser, &format!("{}/projects/pd2015-00", server.http));
    assert_eq!(state, "mismatched", "{text}");
    let changed = hex::encode(Sha256::digest(b"completion report of pd2015-0X"));
    assert!(text.contains("不一致") && text.contains(&changed), "{text}");
    browser.screenshot(&artifacts_dir().join("document-mismatched.png"));
}
