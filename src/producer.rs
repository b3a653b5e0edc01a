//! The [`Producer`] handle: `Clone + Send + Sync`, used from any number of threads.
//!
//! `send` serializes on the caller's thread, checks the record (topic name, size), reserves
//! `buffer.memory` (blocking up to `max.block.ms`), and pushes it onto a lock-free queue to the
//! sender thread, waking that thread only if it is parked. Everything after that — partitioning,
//! batching, metadata, the network, retries — happens on the sender thread; so do callbacks.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crate::config::{ConfigError, ProducerConfig};
use crate::delivery::{AckHook, Completion, DeliveryFuture, DeliveryResult};
use crate::engine::partitioner::Partitioner;
use crate::engine::transactions::{TxnCall, TxnShared};
use crate::engine::{Extras, Pending};
use crate::error::{validate_topic, ProduceError, SendError};
use crate::io::{queue, Waker};
use crate::memory::BufferMemory;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::protocol::record_batch::{payload_size, record_size_upper_bound_for, BATCH_HEADER_LEN};
use crate::record::{ByteArraySerializer, IntoTopic, PartitionInfo, ProducerRecord, Serializer};
use crate::sender::{self, Msg};
use crate::transaction::TransactionError;

/// The producer could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is invalid.
    Config(ConfigError),
    /// The io_uring driver or the sender thread could not start (e.g. io_uring is disabled or
    /// lacks a feature; the message names it).
    Io(std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Config(e) => e.fmt(f),
            StartError::Io(e) => write!(f, "cannot start the sender: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

impl From<ConfigError> for StartError {
    fn from(e: ConfigError) -> Self {
        StartError::Config(e)
    }
}

/// Messages the queue to the sender holds. The bounded array queue ([`queue`]: see there why
/// it is not crossbeam's) is allocated once: an unbounded one allocates a block every few dozen
/// records, and those large allocations made glibc consolidate its free lists on every block (a
/// third of the CPU in a profile). When it is full, `send` waits for room within
/// `max.block.ms`, like for `buffer.memory`.
pub(crate) const QUEUE_CAPACITY: usize = 8192;
/// A queue this long wakes the sender even if it planned to wake soon: Java wakes its sender for
/// a full batch without waiting for `linger.ms`, and a backlog like this is (at least) one.
const WAKE_BACKLOG: usize = 256;

thread_local! {
    /// Where the last topic name this thread's `send` found legal lies (0: none). Without a
    /// destructor, so reading it is a plain load.
    static VALID_TOPIC_AT: Cell<usize> = const { Cell::new(0) };
    /// That name, held so that its address cannot be reused by another name while it is in
    /// `VALID_TOPIC_AT` (whose value it clears when it goes, at the thread's end).
    static VALID_TOPIC: RefCell<ValidTopic> = const { RefCell::new(ValidTopic(None)) };
}

/// The holder of the last name found legal (see `VALID_TOPIC`).
struct ValidTopic(Option<Arc<str>>);

impl Drop for ValidTopic {
    fn drop(&mut self) {
        let _ = VALID_TOPIC_AT.try_with(|at| at.set(0));
    }
}

/// Where a topic name lies: the same `Arc` is the same name.
#[inline]
fn topic_address(topic: &Arc<str>) -> usize {
    Arc::as_ptr(topic).cast::<u8>() as usize
}

/// [`validate_topic`], once per topic name (`Arc`) in a row on this thread: most callers send
/// to one topic, whose name is the same `Arc` every time (see `IntoTopic`).
#[inline]
fn validate_topic_once(topic: &Arc<str>) -> Result<(), SendError> {
    if VALID_TOPIC_AT.try_with(Cell::get).is_ok_and(|at| at == topic_address(topic)) {
        return Ok(());
    }
    validate_new_topic(topic)
}

#[inline(never)]
fn validate_new_topic(topic: &Arc<str>) -> Result<(), SendError> {
    validate_topic(topic)?;
    let _ = VALID_TOPIC.try_with(|v| {
        if let Ok(mut v) = v.try_borrow_mut() {
            v.0 = Some(topic.clone());
            let _ = VALID_TOPIC_AT.try_with(|at| at.set(topic_address(topic)));
        }
    });
    Ok(())
}

struct Inner {
    tx: queue::Tx<Msg>,
    waker: Arc<Waker>,
    closed: AtomicBool,
    memory: Arc<BufferMemory>,
    metrics: Arc<Metrics>,
    max_request_size: usize,
    max_block: Duration,
    thread: Mutex<Option<JoinHandle<()>>>,
    sender_thread: ThreadId,
    /// With `transactional.id`: the transaction state `send` checks (see `transaction`).
    txn: Option<Arc<TxnShared>>,
}

impl Inner {
    /// Closes the producer and returns once the sender thread has stopped, whoever else is
    /// closing it at the same time. The first close starts it; a later one with a timeout
    /// passes its deadline on too, and the sender keeps the earliest (as Java's
    /// `close(Duration.ZERO)` forces a close in progress).
    fn shutdown(&self, timeout: Option<Duration>) {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let first = !self.closed.swap(true, Ordering::SeqCst);
        if first || deadline.is_some() {
            let _ = self.tx.send(Msg::Close { deadline });
            self.waker.wake();
        }
        if std::thread::current().id() == self.sender_thread {
            return; // called from a callback: the sender cannot wait for itself
        }
        // The lock is held while joining: a close from another clone waits here until the
        // sender has stopped, then finds the handle gone.
        let mut handle = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: deliver what is pending (bounded by delivery.timeout.ms).
        self.shutdown(None);
    }
}

/// A Kafka producer. Cheap to clone; all clones share one sender thread. Dropping the last
/// clone closes it, delivering what is pending first (as [`close`](Self::close) without a
/// timeout).
///
/// ```no_run
/// use ringkafka::{Producer, ProducerConfig, ProducerRecord};
/// let producer = Producer::new(ProducerConfig::new("127.0.0.1:9092")).unwrap();
/// // Synchronous:
/// let md = producer.send(ProducerRecord::new("events", b"hello".to_vec()).key(b"k".to_vec()))
///     .unwrap()
///     .wait()
///     .unwrap();
/// println!("written at {}-{}@{}", md.topic, md.partition, md.offset);
/// // With a callback (runs on the sender thread; keep it quick):
/// producer
///     .send_with_callback(ProducerRecord::new("events", b"world".to_vec()), |r| {
///         if let Err(e) = r {
///             eprintln!("failed: {e}");
///         }
///     })
///     .unwrap();
/// producer.flush().unwrap();
/// ```
pub struct Producer<K = Vec<u8>, V = Vec<u8>> {
    inner: Arc<Inner>,
    key_serializer: Arc<dyn Serializer<K>>,
    value_serializer: Arc<dyn Serializer<V>>,
    /// Java's `interceptor.classes`, in order; see [`Producer::with_interceptor`].
    interceptors: Arc<[Arc<dyn ProducerInterceptor<K, V>>]>,
    /// Their `on_acknowledgement`s as one hook, for each record's completion (`None`: no
    /// interceptor, nothing added to `send`).
    ack_hook: Option<AckHook>,
}

/// Java's `ProducerInterceptor`: sees every record before it is serialized, and every
/// outcome. Add one with [`Producer::with_interceptor`]; for tracing (a header per record),
/// auditing, or counting.
///
/// `on_send` runs on the caller's thread inside `send`; `on_acknowledgement` on the sender
/// thread, before the record's callback or future, for every record `send` accepted (so also
/// for fire-and-forget ones); `on_send_error` on the caller's thread when `send` refuses a
/// record. Keep them quick, like callbacks. A panic in `on_acknowledgement` is caught and
/// logged, and the record's own outcome still goes out; `on_send` must not panic (it would
/// unwind out of `send`, with the record not sent).
pub trait ProducerInterceptor<K, V>: Send + Sync {
    /// May change the record (add a header, say) before it is serialized and sent.
    fn on_send(&self, record: ProducerRecord<K, V>) -> ProducerRecord<K, V> {
        record
    }

    /// The outcome of a record `send` accepted.
    fn on_acknowledgement(&self, result: &DeliveryResult) {
        let _ = result;
    }

    /// `send` refused a record with `error` (Java calls `onAcknowledgement` with the exception
    /// for these; here they keep their own type).
    fn on_send_error(&self, error: &SendError) {
        let _ = error;
    }
}

impl<K, V> Clone for Producer<K, V> {
    fn clone(&self) -> Self {
        Producer {
            inner: self.inner.clone(),
            key_serializer: self.key_serializer.clone(),
            value_serializer: self.value_serializer.clone(),
            interceptors: self.interceptors.clone(),
            ack_hook: self.ack_hook.clone(),
        }
    }
}

impl<K, V> std::fmt::Debug for Producer<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Producer<Vec<u8>, Vec<u8>> {
    /// A producer of raw bytes.
    pub fn new(config: ProducerConfig) -> Result<Self, StartError> {
        Self::with_serializers(config, ByteArraySerializer, ByteArraySerializer)
    }
}

impl<K: 'static, V: 'static> Producer<K, V> {
    /// A producer with the given key and value serializers.
    pub fn with_serializers(
        config: ProducerConfig,
        key_serializer: impl Serializer<K>,
        value_serializer: impl Serializer<V>,
    ) -> Result<Self, StartError> {
        Self::with_options(config, key_serializer, value_serializer, None)
    }

    /// A producer with serializers and a custom [`Partitioner`].
    pub fn with_options(
        config: ProducerConfig,
        key_serializer: impl Serializer<K>,
        value_serializer: impl Serializer<V>,
        partitioner: Option<Box<dyn Partitioner>>,
    ) -> Result<Self, StartError> {
        Self::start(config, key_serializer, value_serializer, partitioner, crate::resolver::system_lookup())
    }

    /// [`with_options`](Self::with_options), with the host name lookup to use (tests give
    /// one that hangs or fails).
    pub(crate) fn start(
        mut config: ProducerConfig,
        key_serializer: impl Serializer<K>,
        value_serializer: impl Serializer<V>,
        partitioner: Option<Box<dyn Partitioner>>,
        lookup: crate::resolver::Lookup,
    ) -> Result<Self, StartError> {
        let (parts, rx) = Parts::new(&mut config)?;
        let (memory, metrics) = (parts.memory.clone(), parts.metrics.clone());
        let (handle, waker, txn) =
            sender::spawn(config, partitioner, memory, metrics, rx, lookup).map_err(StartError::Io)?;
        let sender_thread = handle.thread().id();
        Ok(Self::from_parts(parts, waker, Some(handle), sender_thread, txn, key_serializer, value_serializer))
    }

    fn from_parts(
        parts: Parts,
        waker: Arc<Waker>,
        thread: Option<JoinHandle<()>>,
        sender_thread: ThreadId,
        txn: Option<Arc<TxnShared>>,
        key_serializer: impl Serializer<K>,
        value_serializer: impl Serializer<V>,
    ) -> Self {
        let Parts { tx, memory, metrics, max_request_size, max_block } = parts;
        Producer {
            inner: Arc::new(Inner {
                tx,
                waker,
                closed: AtomicBool::new(false),
                memory,
                metrics,
                max_request_size,
                max_block,
                thread: Mutex::new(thread),
                sender_thread,
                txn,
            }),
            key_serializer: Arc::new(key_serializer),
            value_serializer: Arc::new(value_serializer),
            interceptors: Arc::new([]),
            ack_hook: None,
        }
    }
}

/// What a handle shares with its sender, besides the waker.
struct Parts {
    tx: queue::Tx<Msg>,
    memory: Arc<BufferMemory>,
    metrics: Arc<Metrics>,
    max_request_size: usize,
    max_block: Duration,
}

impl Parts {
    /// Validates `config` and makes the handle's side of a producer; the queue's other end is
    /// the sender's.
    fn new(config: &mut ProducerConfig) -> Result<(Parts, queue::Rx<Msg>), StartError> {
        config.validate()?;
        let (tx, rx) = queue::bounded(QUEUE_CAPACITY);
        let parts = Parts {
            tx,
            memory: Arc::new(BufferMemory::new(config.buffer_memory)),
            metrics: Arc::new(Metrics::default()),
            max_request_size: config.max_request_size,
            max_block: config.max_block,
        };
        Ok((parts, rx))
    }
}

/// The sender's half of a producer without a sender thread (see [`Producer::unthreaded`]).
#[cfg(any(test, all(feature = "internals", feature = "mock")))]
pub(crate) struct SenderEnds {
    /// The configuration, validated.
    pub config: ProducerConfig,
    pub rx: queue::Rx<Msg>,
    pub memory: Arc<BufferMemory>,
    pub metrics: Arc<Metrics>,
}

#[cfg(any(test, all(feature = "internals", feature = "mock")))]
impl Producer<Vec<u8>, Vec<u8>> {
    /// A producer of raw bytes whose sender is no thread: whoever holds the returned ends drives
    /// it, on any thread (`crate::harness` does, on the caller's own, with no ring). The waker is
    /// never armed, so `send` never makes a syscall to wake it.
    pub(crate) fn unthreaded(mut config: ProducerConfig) -> Result<(Self, SenderEnds), StartError> {
        let (parts, rx) = Parts::new(&mut config)?;
        let (memory, metrics) = (parts.memory.clone(), parts.metrics.clone());
        let waker = Arc::new(Waker::new().map_err(StartError::Io)?);
        // No thread is the sender: an id no thread has any more.
        let nobody = std::thread::spawn(|| {}).thread().id();
        let producer =
            Self::from_parts(parts, waker, None, nobody, None, ByteArraySerializer, ByteArraySerializer);
        Ok((producer, SenderEnds { config, rx, memory, metrics }))
    }
}

impl<K: 'static, V: 'static> Producer<K, V> {
    /// Sends a record; the returned future resolves to its [`RecordMetadata`](crate::RecordMetadata)
    /// or error. `.await` it, or [`wait`](DeliveryFuture::wait) on it for a synchronous send.
    pub fn send(&self, record: ProducerRecord<K, V>) -> Result<DeliveryFuture, SendError> {
        let mut fut = None;
        self.enqueue(record, || {
            let (f, c) = DeliveryFuture::new();
            fut = Some(f);
            c
        })?;
        Ok(fut.expect("enqueue built the completion"))
    }

    /// Sends a record; `callback` runs on the sender thread with the outcome, in send order
    /// within each partition. It must be quick and must not block (no `flush`, no waiting on
    /// a `DeliveryFuture`): while it runs, the producer sends nothing.
    ///
    /// Small callbacks cost no allocation: one that captures up to 16 bytes, or up to 24 if one
    /// of its captures is a reference or an `Arc` (an `Arc` and an `Instant`, say), travels
    /// inside the record. A larger one is boxed.
    pub fn send_with_callback(
        &self,
        record: ProducerRecord<K, V>,
        callback: impl FnOnce(DeliveryResult) + Send + 'static,
    ) -> Result<(), SendError> {
        self.enqueue(record, || Completion::callback(callback))
    }

    /// Sends a record and asks for no outcome (fire-and-forget). The cheapest way to send:
    /// nothing is allocated for the outcome. Failures still count in [`metrics`](Self::metrics).
    pub fn send_and_forget(&self, record: ProducerRecord<K, V>) -> Result<(), SendError> {
        self.enqueue(record, Completion::forget)
    }

    /// Adds an interceptor (Java's `interceptor.classes`), after any added before. It applies
    /// to sends through this handle and the clones made from it afterwards.
    pub fn with_interceptor(mut self, interceptor: impl ProducerInterceptor<K, V> + 'static) -> Self {
        let mut all: Vec<Arc<dyn ProducerInterceptor<K, V>>> = self.interceptors.iter().cloned().collect();
        all.push(Arc::new(interceptor));
        let all: Arc<[Arc<dyn ProducerInterceptor<K, V>>]> = all.into();
        let hooks = all.clone();
        self.ack_hook = Some(Arc::new(move |r: &DeliveryResult| {
            for i in hooks.iter() {
                i.on_acknowledgement(r);
            }
        }));
        self.interceptors = all;
        self
    }

    fn enqueue(
        &self,
        record: ProducerRecord<K, V>,
        completion: impl FnOnce() -> Completion,
    ) -> Result<(), SendError> {
        match &self.ack_hook {
            None => self.enqueue_record(record, completion),
            Some(hook) => self.enqueue_intercepted(record, completion, hook.clone()),
        }
    }

    /// `enqueue` with interceptors: `on_send` first, the acknowledgement hook around the
    /// completion, `on_send_error` for a refusal. Kept out of line: without interceptors
    /// `send` pays one branch.
    #[inline(never)]
    fn enqueue_intercepted(
        &self,
        mut record: ProducerRecord<K, V>,
        completion: impl FnOnce() -> Completion,
        hook: AckHook,
    ) -> Result<(), SendError> {
        for i in self.interceptors.iter() {
            record = i.on_send(record);
        }
        let result = self.enqueue_record(record, move || Completion::intercepted(completion(), hook));
        if let Err(e) = &result {
            for i in self.interceptors.iter() {
                i.on_send_error(e);
            }
        }
        result
    }

    fn enqueue_record(
        &self,
        record: ProducerRecord<K, V>,
        completion: impl FnOnce() -> Completion,
    ) -> Result<(), SendError> {
        let inner = &*self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(SendError::Closed);
        }
        // A transactional producer sends only inside a transaction (one load; nothing for others).
        if let Some(t) = &inner.txn {
            t.check_send()?;
        }
        validate_topic_once(&record.topic)?;
        if let Some(p) = record.partition {
            if p < 0 {
                return Err(SendError::InvalidPartition(p));
            }
        }
        // Java's ProducerRecord refuses a negative timestamp.
        if let Some(t) = record.timestamp {
            if t < 0 {
                return Err(SendError::InvalidTimestamp(t));
            }
        }
        let topic = record.topic;
        let key = match record.key {
            Some(k) => {
                Some(self.key_serializer.serialize(&topic, k).map_err(|e| SendError::Serialization(e.0))?)
            }
            None => None,
        };
        let value = match record.value {
            Some(v) => {
                Some(self.value_serializer.serialize(&topic, v).map_err(|e| SendError::Serialization(e.0))?)
            }
            None => None,
        };
        let payload = payload_size(key.as_deref(), value.as_deref(), &record.headers);
        let size = BATCH_HEADER_LEN + record_size_upper_bound_for(payload);
        if size > inner.max_request_size {
            return Err(SendError::RecordTooLarge {
                size,
                max: inner.max_request_size,
                limit: "max.request.size",
            });
        }
        if size > inner.memory.total() {
            return Err(SendError::RecordTooLarge {
                size,
                max: inner.memory.total(),
                limit: "buffer.memory",
            });
        }
        // A record's payload size travels as a u32 (the queue's slots are kept small); Kafka's
        // own limit on a request is an i32.
        let payload = u32::try_from(payload).map_err(|_| SendError::RecordTooLarge {
            size,
            max: u32::MAX as usize,
            limit: "max.request.size",
        })?;
        // Charged to buffer.memory: the record's wire bytes at most (without the batch header
        // it shares) and the producer's bookkeeping for it.
        let size = Pending::reservation(payload as usize);
        inner
            .memory
            .reserve(size, inner.max_block, || inner.waker.wake())
            .map_err(|waited| SendError::BufferExhausted { waited, requested: size })?;
        // No clock is read here: the sender stamps the record (timestamp, linger and timeout
        // clocks) with its loop turn's clock when it takes it.
        let headers = record.headers;
        let extras = if headers.is_empty() && record.timestamp.is_none() {
            if headers.capacity() == 0 {
                // Nothing to free: no call to the vector's destructor.
                std::mem::forget(headers);
            }
            None
        } else {
            Some(Box::new(Extras { headers, timestamp: record.timestamp }))
        };
        let pending = Pending {
            topic,
            key,
            value,
            extras,
            completion: completion(),
            partition: record.partition.unwrap_or(-1),
            payload,
        };
        let refused = |msg: Msg, err: SendError| {
            if let Msg::Record(p) = msg {
                p.completion.disarm();
            }
            inner.memory.release(size);
            Err(err)
        };
        // The slot holds what the sender left of the record written there a lap of the queue
        // before: its buffers, dropped here, on this thread (see `Pending`). The allocator's
        // thread cache takes them back and hands them out again for the caller's next value;
        // the sender read that buffer last, so writing it would wait for the sender's core to
        // give up its lines: asking for them now overlaps that with the caller's work until then.
        let sent = inner.tx.try_send(Msg::Record(pending));
        match sent {
            Ok(()) => {}
            Err(queue::TrySendError::Disconnected(m)) => return refused(m, SendError::Closed),
            Err(queue::TrySendError::Full(m)) => {
                inner.waker.wake();
                match inner.tx.send_timeout(m, inner.max_block) {
                    Ok(()) => {}
                    Err(queue::SendTimeoutError::Disconnected(m)) => return refused(m, SendError::Closed),
                    Err(queue::SendTimeoutError::Timeout(m)) => {
                        let waited = inner.max_block;
                        return refused(m, SendError::BufferExhausted { waited, requested: size });
                    }
                }
            }
        }
        // The record may linger for linger.ms: a sender already due to wake within that picks
        // it up without being woken (Java wakes its sender only for a new or a full batch, for
        // the same reason) unless a backlog is building. The queue's length is read only when
        // the sender is parked: reading it costs a cache miss on the sender's index.
        // The queue's send ended with a full fence after it published the record (see
        // `Waker::parked_after_fence`).
        if inner.waker.parked_after_fence() {
            if inner.tx.len() >= WAKE_BACKLOG {
                inner.waker.wake();
            } else {
                inner.waker.wake_lazy();
            }
        }
        Ok(())
    }

    /// Sends everything buffered now (ignoring `linger.ms`) and blocks until every record sent
    /// before this call has completed. Do not call it from a callback.
    pub fn flush(&self) -> Result<(), SendError> {
        if std::thread::current().id() == self.inner.sender_thread {
            log::error!("flush() called from a delivery callback would wait for itself; ignored");
            return Ok(());
        }
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        self.inner
            .tx
            .send(Msg::Flush(Box::new(move || {
                let _ = done_tx.send(());
            })))
            .map_err(|_| SendError::Closed)?;
        self.inner.waker.wake();
        // The waiter is run (or dropped, if the sender is gone) exactly once.
        let _ = done_rx.recv();
        Ok(())
    }

    /// The partitions of `topic` and their leaders (Java's `partitionsFor`). Fetches the
    /// topic's metadata if the producer does not have it yet, waiting up to `max.block.ms`
    /// (then [`ProduceError::MetadataTimeout`]). Records sent to the topic afterwards do not
    /// wait for its metadata, so a harness can call it to warm a producer up before timing it.
    /// Not from a delivery callback: it would wait for its own thread
    /// ([`ProduceError::InvalidCall`]).
    pub fn partitions_for(&self, topic: &str) -> Result<Vec<PartitionInfo>, ProduceError> {
        let inner = &*self.inner;
        if std::thread::current().id() == inner.sender_thread {
            return Err(ProduceError::InvalidCall(
                "partitions_for() called from a delivery callback would wait for itself".into(),
            ));
        }
        if inner.closed.load(Ordering::Acquire) {
            return Err(ProduceError::Closed);
        }
        validate_topic(topic).map_err(|e| ProduceError::Broker {
            code: crate::protocol::ErrorCode::INVALID_TOPIC_EXCEPTION,
            message: Some(e.to_string()),
        })?;
        let called = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        let reply: crate::engine::PartitionsWaiter = Box::new(move |r| {
            let _ = tx.send(r);
        });
        let msg = Msg::PartitionsFor { topic: topic.into_topic(), reply, called };
        inner.tx.send(msg).map_err(|_| ProduceError::Closed)?;
        inner.waker.wake();
        // The sender answers by max.block.ms after `called`; the margin only guards against a
        // sender that stopped polling. A dropped answer means the sender is gone.
        match rx.recv_timeout(inner.max_block.saturating_add(Duration::from_secs(1))) {
            Ok(r) => r,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                Err(ProduceError::MetadataTimeout { topic: topic.to_string(), waited: inner.max_block })
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(ProduceError::Closed),
        }
    }

    /// Closes the producer: new sends fail with [`SendError::Closed`]; pending records are
    /// delivered for up to `timeout`, then failed with `ProduceError::Closed`; returns when the
    /// sender thread has stopped, every record's outcome given. Every caller waits for that,
    /// when several clones close at once; the earliest of their deadlines applies (so
    /// `close(Duration::ZERO)` ends a longer close in progress, as in Java). Called from a
    /// callback, it does not wait.
    pub fn close(&self, timeout: Duration) {
        self.inner.shutdown(Some(timeout));
    }

    /// The transaction state machine, if the producer is transactional (see `transaction`).
    pub(crate) fn txn_gate(&self) -> Option<&Arc<TxnShared>> {
        self.inner.txn.as_ref()
    }

    /// `max.block.ms`: how long a blocking transactional call waits.
    pub(crate) fn max_block(&self) -> Duration {
        self.inner.max_block
    }

    /// Whether a transactional call can be made here: not when closed, nor from a delivery
    /// callback (waiting for it would wait for the thread it runs on).
    pub(crate) fn txn_callable(&self) -> Result<(), TransactionError> {
        let inner = &*self.inner;
        if std::thread::current().id() == inner.sender_thread {
            return Err(TransactionError::InvalidState(
                "a transactional call from a delivery callback would wait for its own thread".into(),
            ));
        }
        if inner.closed.load(Ordering::Acquire) {
            return Err(TransactionError::Closed);
        }
        Ok(())
    }

    /// Hands a transactional call to the sender thread.
    pub(crate) fn post_txn(&self, call: TxnCall) -> Result<(), TransactionError> {
        let inner = &*self.inner;
        inner.tx.send(Msg::Txn(Box::new(call))).map_err(|_| TransactionError::Closed)?;
        inner.waker.wake();
        Ok(())
    }

    /// A snapshot of the producer's metrics.
    pub fn metrics(&self) -> MetricsSnapshot {
        let mut m = self.inner.metrics.snapshot(self.inner.memory.available());
        m.sender_parks = self.inner.waker.parks();
        m.sender_wakeups = self.inner.waker.wakeups();
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name found legal is not checked again while it is the one in use; an illegal one is
    /// refused every time, and a new name is checked.
    #[test]
    fn a_topic_is_validated_once_per_name_in_a_row() {
        let remembered = |t: &Arc<str>| {
            VALID_TOPIC_AT.with(Cell::get) == topic_address(t)
                && VALID_TOPIC.with(|v| v.borrow().0.as_ref().is_some_and(|v| Arc::ptr_eq(v, t)))
        };
        let good: Arc<str> = "orders".into();
        validate_topic_once(&good).unwrap();
        assert!(remembered(&good));
        validate_topic_once(&good).unwrap();
        let bad: Arc<str> = "no/slash".into();
        assert!(validate_topic_once(&bad).is_err());
        assert!(validate_topic_once(&bad).is_err(), "an illegal name is never remembered");
        assert!(remembered(&good));
        let other: Arc<str> = "orders".into();
        validate_topic_once(&other).unwrap();
        assert!(remembered(&other));
        // The name remembered is held: its address cannot come back with another name.
        drop(other);
        assert!(VALID_TOPIC.with(|v| v.borrow().0.as_ref().is_some_and(|v| &**v == "orders")));
    }
}
