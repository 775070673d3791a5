//! `KurrentDbStore`: the writer, a reader thread and a follower over the
//! `kurrentdb` client. See the crate's documentation for the design.

use std::time::Duration;

use bytes::Bytes;
use kurrentdb::{
    AppendToStreamOptions, Client, ClientSettings, CurrentRevision, EventData, ReadStreamOptions,
    StreamPosition, StreamState, SubscribeToStreamOptions,
};
use mingzhang_ledger::record::GENESIS_PREV_HASH;
use mingzhang_ledger::store::{
    AppendFuture, EventStore, Head, LogPosition, StoreError, StoredRecord, SyncStats,
};
use tokio::sync::{oneshot, watch};

use crate::location::{Location, LocationError};
use crate::position::{ExpectedRevision, len_after, record_of_event, subscribe_after};
use crate::writer::{AppendError, Appender, DurableHead, GroupLimits, Writer};

/// The event type of every record's event.
pub const EVENT_TYPE: &str = "mingzhang-record";

/// How long a follower waits before subscribing again after its
/// subscription ended.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum KurrentDbError {
    #[error(transparent)]
    Location(#[from] LocationError),
    #[error("the store URL is not a KurrentDB connection string: {0}")]
    Settings(String),
    #[error("connecting to KurrentDB: {0}")]
    Connect(String),
    #[error("KurrentDB: {0}")]
    Server(#[from] kurrentdb::Error),
    #[error("record {seq} in stream {stream} is damaged: {reason}")]
    Damaged {
        stream: String,
        seq: u64,
        reason: String,
    },
}

/// The log in one stream of a KurrentDB cluster. Dropping it lets the
/// writer finish what is queued and ends the follower and the reader.
pub struct KurrentDbStore {
    writer: Writer,
    reads: std::sync::mpsc::Sender<ReadRequest>,
    follower: AbortOnDrop,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct ReadRequest {
    from_seq: u64,
    end_seq: u64,
    reply: std::sync::mpsc::Sender<Result<Vec<StoredRecord>, StoreError>>,
}

fn connect(location: &Location) -> Result<Client, KurrentDbError> {
    let settings: ClientSettings = location.connection_string().parse().map_err(
        |error: kurrentdb::ClientSettingsParseError| KurrentDbError::Settings(error.to_string()),
    )?;
    Client::new(settings).map_err(|error| KurrentDbError::Connect(error.to_string()))
}

/// Reads and appends go to the leader: a follower node may not yet hold
/// what the leader acknowledged, and a read of an acknowledged record must
/// find it.
fn read_options(from_seq: u64, count: u64) -> ReadStreamOptions {
    ReadStreamOptions::default()
        .forwards()
        .position(StreamPosition::Position(from_seq))
        .max_count(usize::try_from(count).unwrap_or(usize::MAX))
        .requires_leader(true)
}

impl KurrentDbStore {
    /// Opens the log at `url` (a `kurrentdb://` connection string, with an
    /// optional `stream` parameter): reads the whole stream once, checking
    /// every record and chain link, to find the head. Must be called
    /// within a tokio runtime: the writer and the follower run on it.
    pub async fn open(url: &str) -> Result<KurrentDbStore, KurrentDbError> {
        Self::open_with_limits(url, GroupLimits::default()).await
    }

    /// `open`, with other limits on what one group and one append carry
    /// (the tests split every group into small appends).
    pub async fn open_with_limits(
        url: &str,
        limits: GroupLimits,
    ) -> Result<KurrentDbStore, KurrentDbError> {
        let location = Location::parse(url)?;
        let client = connect(&location)?;
        let head = read_head(&client, location.stream()).await?;
        let reads = spawn_reader(location.clone()).await?;
        let writer = Writer::start(
            head,
            StreamAppender {
                client: client.clone(),
                stream: location.stream().to_owned(),
            },
            limits,
        );
        let follower = AbortOnDrop(tokio::spawn(follow(
            client,
            location.stream().to_owned(),
            writer.durable_head(),
        )));
        Ok(KurrentDbStore {
            writer,
            reads,
            follower,
        })
    }

    /// Waits for everything queued to be acknowledged (or to fail), then closes.
    pub async fn close(self) {
        drop(self.follower);
        self.writer.close().await;
    }
}

/// Reads the stream from its start, checking each record and its link to
/// the one before, and returns the head after the last.
async fn read_head(client: &Client, stream: &str) -> Result<Head, KurrentDbError> {
    let damaged = |seq: u64, reason: String| KurrentDbError::Damaged {
        stream: stream.to_owned(),
        seq,
        reason,
    };
    let options = ReadStreamOptions::default()
        .forwards()
        .position(StreamPosition::Start)
        .requires_leader(true);
    let mut events = match client.read_stream(stream, &options).await {
        Ok(events) => events,
        Err(kurrentdb::Error::ResourceNotFound) => return Ok(empty_head()),
        Err(error) => return Err(error.into()),
    };
    let mut head = empty_head();
    loop {
        let event = match events.next().await {
            Ok(Some(event)) => event,
            Ok(None) | Err(kurrentdb::Error::ResourceNotFound) => return Ok(head),
            Err(error) => return Err(error.into()),
        };
        let event = event.get_original_event();
        let record = record_of_event(event.revision, &event.data, head.len, Some(&head.last_hash))
            .map_err(|reason| damaged(head.len, reason))?;
        head = Head {
            len: head.len + 1,
            last_hash: record.hash(),
        };
    }
}

fn empty_head() -> Head {
    Head {
        len: 0,
        last_hash: GENESIS_PREV_HASH,
    }
}

struct StreamAppender {
    client: Client,
    stream: String,
}

impl Appender for StreamAppender {
    async fn append(
        &mut self,
        expected: ExpectedRevision,
        records: &[StoredRecord],
    ) -> Result<(), AppendError> {
        let state = match expected {
            ExpectedRevision::NoStream => StreamState::NoStream,
            ExpectedRevision::Last(revision) => StreamState::StreamRevision(revision),
        };
        let events: Vec<EventData> = records
            .iter()
            .map(|record| EventData::binary(EVENT_TYPE, Bytes::copy_from_slice(record.bytes())))
            .collect();
        let options = AppendToStreamOptions::default()
            .stream_state(state)
            .requires_leader(true);
        match self
            .client
            .append_to_stream(self.stream.as_str(), &options, events)
            .await
        {
            Ok(result) => {
                let last = records.last().expect("an append holds records");
                // The server says which revision it wrote last; anything
                // else than ours means it holds another log.
                if len_after(Some(result.next_expected_version)) != last.seq() + 1 {
                    return Err(AppendError::Unknown(format!(
                        "the server acknowledged revision {} for record {}",
                        result.next_expected_version,
                        last.seq()
                    )));
                }
                Ok(())
            }
            Err(kurrentdb::Error::WrongExpectedVersion { current, .. }) => {
                Err(AppendError::Conflict {
                    actual_len: len_after(match current {
                        CurrentRevision::Current(revision) => Some(revision),
                        CurrentRevision::NoStream => None,
                    }),
                })
            }
            Err(error) => Err(AppendError::Unknown(error.to_string())),
        }
    }
}

/// Follows the stream from the acknowledged head with a catch-up
/// subscription and moves the head to each record it delivers, so a
/// follower in another process wakes and reads them by range. Subscribes
/// again from the head if the subscription ends.
async fn follow(client: Client, stream: String, head: DurableHead) {
    loop {
        let from = head.get().len;
        let start = subscribe_after(from).map_or(StreamPosition::Start, StreamPosition::Position);
        let options = SubscribeToStreamOptions::default()
            .start_from(start)
            .requires_leader(true);
        let mut subscription = client.subscribe_to_stream(stream.as_str(), &options).await;
        loop {
            let event = match subscription.next().await {
                Ok(event) => event,
                Err(error) => {
                    tracing::warn!(%error, %stream, "the KurrentDB subscription ended; subscribing again");
                    break;
                }
            };
            let event = event.get_original_event();
            let known = head.get().len;
            if event.revision < known {
                continue;
            }
            match record_of_event(event.revision, &event.data, known, None) {
                Ok(record) => head.publish(Head {
                    len: record.seq() + 1,
                    last_hash: record.hash(),
                }),
                Err(reason) => {
                    tracing::warn!(%reason, %stream, "a record the subscription delivered");
                    break;
                }
            }
        }
        tokio::time::sleep(RESUBSCRIBE_AFTER).await;
    }
}

/// The reader: a thread with a client and a runtime of its own, because
/// `EventStore::read` is synchronous and may be called on a runtime thread.
async fn spawn_reader(
    location: Location,
) -> Result<std::sync::mpsc::Sender<ReadRequest>, KurrentDbError> {
    let (requests, incoming) = std::sync::mpsc::channel::<ReadRequest>();
    let (opened_tx, opened) = oneshot::channel();
    std::thread::Builder::new()
        .name("kurrentdb-reader".into())
        .spawn(move || {
            // One worker of its own, so the client's connection is kept
            // alive between reads.
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = opened_tx.send(Err(KurrentDbError::Connect(error.to_string())));
                    return;
                }
            };
            let client = match runtime.block_on(async { connect(&location) }) {
                Ok(client) => {
                    let _ = opened_tx.send(Ok(()));
                    client
                }
                Err(error) => {
                    let _ = opened_tx.send(Err(error));
                    return;
                }
            };
            while let Ok(request) = incoming.recv() {
                let records = runtime.block_on(read_range(&client, location.stream(), &request));
                let _ = request.reply.send(records);
            }
        })
        .map_err(|error| KurrentDbError::Connect(format!("starting the reader thread: {error}")))?;
    opened
        .await
        .map_err(|_| KurrentDbError::Connect("the reader thread ended".into()))??;
    Ok(requests)
}

async fn read_range(
    client: &Client,
    stream: &str,
    request: &ReadRequest,
) -> Result<Vec<StoredRecord>, StoreError> {
    let damaged = |seq: u64, reason: String| StoreError::Corrupt {
        position: LogPosition {
            segment: format!("KurrentDB stream {stream}"),
            offset: seq,
            seq,
        },
        reason,
    };
    let io = |error: kurrentdb::Error| StoreError::Io(std::io::Error::other(error));
    let count = request.end_seq - request.from_seq;
    let mut events = client
        .read_stream(stream, &read_options(request.from_seq, count))
        .await
        .map_err(io)?;
    let mut records: Vec<StoredRecord> = Vec::with_capacity(count.min(4096) as usize);
    while let Some(event) = events.next().await.map_err(io)? {
        let seq = request.from_seq + records.len() as u64;
        if seq == request.end_seq {
            break;
        }
        let event = event.get_original_event();
        let prev_hash = records.last().map(StoredRecord::hash);
        let record = record_of_event(event.revision, &event.data, seq, prev_hash.as_ref())
            .map_err(|reason| damaged(seq, reason))?;
        records.push(record);
    }
    if records.len() as u64 != count {
        let seq = request.from_seq + records.len() as u64;
        return Err(damaged(seq, "an acknowledged record is missing".into()));
    }
    Ok(records)
}

impl EventStore for KurrentDbStore {
    fn append(&self, expected_first_seq: u64, payloads: Vec<Vec<u8>>) -> AppendFuture {
        self.writer.append(expected_first_seq, payloads)
    }

    fn head(&self) -> Head {
        self.writer.head()
    }

    fn read(&self, from_seq: u64, max_records: usize) -> Result<Vec<StoredRecord>, StoreError> {
        let len = self.writer.head().len;
        if from_seq > len {
            return Err(StoreError::OutOfRange { seq: from_seq, len });
        }
        let end_seq = len.min(from_seq.saturating_add(max_records as u64));
        if end_seq == from_seq {
            return Ok(Vec::new());
        }
        let (reply, answer) = std::sync::mpsc::channel();
        self.reads
            .send(ReadRequest {
                from_seq,
                end_seq,
                reply,
            })
            .map_err(|_| StoreError::Closed)?;
        answer.recv().map_err(|_| StoreError::Closed)?
    }

    fn watch_durable_len(&self) -> watch::Receiver<u64> {
        self.writer.watch_durable_len()
    }

    fn sync_stats(&self) -> Option<SyncStats> {
        Some(self.writer.sync_stats())
    }

    fn failure(&self) -> Option<String> {
        self.writer.failure()
    }
}
