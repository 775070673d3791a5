//! A table beside the records, for synchronous callers (signing, the read
//! models' folds): one thread owns a connection and a runtime of its own
//! and answers calls in order; a lost connection is replaced on the next
//! call, and the call is answered with the reconnection's error if that
//! fails. The checkpoints and the personal-data side store are served so.

use tokio::sync::oneshot;
use tokio_postgres::Client;

use crate::PostgresError;

/// What one table's thread connects with and how it answers a call.
pub(crate) trait TableCalls: 'static {
    type Call: Send + 'static;
    type Answer: Send + 'static;
    type Error: Send + 'static;
    /// The thread's name, also in the message when it cannot start.
    const THREAD_NAME: &'static str;

    /// Connects and checks the table is there.
    async fn connect(url: &str) -> Result<Client, PostgresError>;
    async fn answer(client: &Client, call: Self::Call) -> Result<Self::Answer, Self::Error>;
    /// The answer to a call that found no connection and could not make one.
    fn unavailable(error: PostgresError) -> Self::Error;
}

struct Request<T: TableCalls> {
    call: T::Call,
    reply: std::sync::mpsc::Sender<Result<T::Answer, T::Error>>,
}

pub(crate) struct TableThread<T: TableCalls> {
    calls: std::sync::mpsc::Sender<Request<T>>,
}

impl<T: TableCalls> TableThread<T> {
    /// Starts the thread and returns once its first connection is made.
    pub(crate) async fn start(url: &str) -> Result<TableThread<T>, PostgresError> {
        let (calls, incoming) = std::sync::mpsc::channel::<Request<T>>();
        let (opened_tx, opened) = oneshot::channel();
        let url = url.to_owned();
        std::thread::Builder::new()
            .name(T::THREAD_NAME.into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for a table's thread");
                let mut client = match runtime.block_on(T::connect(&url)) {
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
                    if client.is_closed() {
                        match runtime.block_on(T::connect(&url)) {
                            Ok(fresh) => client = fresh,
                            Err(error) => {
                                let _ = request.reply.send(Err(T::unavailable(error)));
                                continue;
                            }
                        }
                    }
                    let answer = runtime.block_on(T::answer(&client, request.call));
                    let _ = request.reply.send(answer);
                }
            })
            .map_err(|error| PostgresError::Damaged {
                seq: 0,
                reason: format!("starting the {} thread: {error}", T::THREAD_NAME),
            })?;
        opened.await.map_err(|_| PostgresError::NoSchema)??;
        Ok(TableThread { calls })
    }

    /// The thread's answer, or `None` once the thread has ended.
    pub(crate) fn call(&self, call: T::Call) -> Option<Result<T::Answer, T::Error>> {
        let (reply, answer) = std::sync::mpsc::channel();
        self.calls.send(Request { call, reply }).ok()?;
        answer.recv().ok()
    }
}
