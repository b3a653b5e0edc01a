//! Kafka error codes, with the Java client's retriable classification.
//!
//! `is_retriable` follows whether the Java client maps the code to a subclass of
//! `org.apache.kafka.common.errors.RetriableException`.

use std::fmt;

/// A Kafka error code as carried on the wire (`0` is no error).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub i16);

macro_rules! error_codes {
    ($( $name:ident = $code:expr, $retriable:expr, $text:expr; )*) => {
        impl ErrorCode {
            $( #[doc = $text] pub const $name: ErrorCode = ErrorCode($code); )*

            /// The protocol name of the code (`"NOT_LEADER_OR_FOLLOWER"`), or `"UNKNOWN_CODE"`.
            pub fn name(self) -> &'static str {
                match self.0 { $( $code => stringify!($name), )* _ => "UNKNOWN_CODE" }
            }

            /// Whether the Java client treats this error as retriable.
            pub fn is_retriable(self) -> bool {
                match self.0 { $( $code => $retriable, )* _ => false }
            }

            /// The broker's documented meaning of the code.
            pub fn description(self) -> &'static str {
                match self.0 { $( $code => $text, )* _ => "an error code this client does not know" }
            }
        }
    };
}

error_codes! {
    UNKNOWN_SERVER_ERROR = -1, false, "The server experienced an unexpected error when processing the request.";
    NONE = 0, false, "No error.";
    OFFSET_OUT_OF_RANGE = 1, false, "The requested offset is not within the range of offsets maintained by the server.";
    CORRUPT_MESSAGE = 2, true, "This message has failed its CRC checksum, exceeds the valid size, has a null key for a compacted topic, or is otherwise corrupt.";
    UNKNOWN_TOPIC_OR_PARTITION = 3, true, "This server does not host this topic-partition.";
    INVALID_FETCH_SIZE = 4, false, "The requested fetch size is invalid.";
    LEADER_NOT_AVAILABLE = 5, true, "There is no leader for this topic-partition as we are in the middle of a leadership election.";
    NOT_LEADER_OR_FOLLOWER = 6, true, "For requests intended only for the leader, this error indicates that the broker is not the current leader.";
    REQUEST_TIMED_OUT = 7, true, "The request timed out.";
    BROKER_NOT_AVAILABLE = 8, false, "The broker is not available.";
    REPLICA_NOT_AVAILABLE = 9, true, "The replica is not available for the requested topic-partition.";
    MESSAGE_TOO_LARGE = 10, false, "The request included a message larger than the max message size the server will accept.";
    STALE_CONTROLLER_EPOCH = 11, false, "The controller moved to another broker.";
    OFFSET_METADATA_TOO_LARGE = 12, false, "The metadata field of the offset request was too large.";
    NETWORK_EXCEPTION = 13, true, "The server disconnected before a response was received.";
    COORDINATOR_LOAD_IN_PROGRESS = 14, true, "The coordinator is loading and hence can't process requests.";
    COORDINATOR_NOT_AVAILABLE = 15, true, "The coordinator is not available.";
    NOT_COORDINATOR = 16, true, "This is not the correct coordinator.";
    INVALID_TOPIC_EXCEPTION = 17, false, "The request attempted to perform an operation on an invalid topic.";
    RECORD_LIST_TOO_LARGE = 18, false, "The request included message batch larger than the configured segment size on the server.";
    NOT_ENOUGH_REPLICAS = 19, true, "Messages are rejected since there are fewer in-sync replicas than required.";
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20, true, "Messages are written to the log, but to fewer in-sync replicas than required.";
    INVALID_REQUIRED_ACKS = 21, false, "Produce request specified an invalid value for required acks.";
    ILLEGAL_GENERATION = 22, false, "Specified group generation id is not valid.";
    INVALID_TIMESTAMP = 32, false, "The timestamp of the message is out of acceptable range.";
    UNSUPPORTED_SASL_MECHANISM = 33, false, "The broker does not support the requested SASL mechanism.";
    ILLEGAL_SASL_STATE = 34, false, "Request is not valid given the current SASL state.";
    UNSUPPORTED_VERSION = 35, false, "The version of API is not supported.";
    TOPIC_ALREADY_EXISTS = 36, false, "Topic with this name already exists.";
    INVALID_PARTITIONS = 37, false, "Number of partitions is below 1.";
    INVALID_REPLICATION_FACTOR = 38, false, "Replication factor is below 1 or larger than the number of available brokers.";
    INVALID_REPLICA_ASSIGNMENT = 39, false, "Replica assignment is invalid.";
    INVALID_CONFIG = 40, false, "Configuration is invalid.";
    NOT_CONTROLLER = 41, true, "This is not the correct controller for this cluster.";
    INVALID_REQUEST = 42, false, "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker.";
    UNSUPPORTED_FOR_MESSAGE_FORMAT = 43, false, "The message format version on the broker does not support the request.";
    POLICY_VIOLATION = 44, false, "Request parameters do not satisfy the configured policy.";
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45, false, "The broker received an out of order sequence number.";
    DUPLICATE_SEQUENCE_NUMBER = 46, false, "The broker received a duplicate sequence number.";
    INVALID_PRODUCER_EPOCH = 47, false, "Producer attempted to produce with an old epoch.";
    INVALID_TXN_STATE = 48, false, "The producer attempted a transactional operation in an invalid state.";
    INVALID_PRODUCER_ID_MAPPING = 49, false, "The producer attempted to use a producer id which is not currently assigned to its transactional id.";
    INVALID_TRANSACTION_TIMEOUT = 50, false, "The transaction timeout is larger than the maximum value allowed by the broker.";
    CONCURRENT_TRANSACTIONS = 51, true, "The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing.";
    TRANSACTION_COORDINATOR_FENCED = 52, false, "Indicates that the transaction coordinator sending a WriteTxnMarker is no longer the current coordinator for a given producer.";
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53, false, "Transactional Id authorization failed.";
    SECURITY_DISABLED = 54, false, "Security features are disabled.";
    OPERATION_NOT_ATTEMPTED = 55, false, "The broker did not attempt to execute this operation.";
    KAFKA_STORAGE_ERROR = 56, true, "Disk error when trying to access log file on the disk.";
    LOG_DIR_NOT_FOUND = 57, false, "The user-specified log directory is not found in the broker config.";
    SASL_AUTHENTICATION_FAILED = 58, false, "SASL Authentication failed.";
    UNKNOWN_PRODUCER_ID = 59, false, "This exception is raised by the broker if it could not locate the producer metadata associated with the producerId in question.";
    TOPIC_AUTHORIZATION_FAILED = 29, false, "Topic authorization failed.";
    GROUP_AUTHORIZATION_FAILED = 30, false, "Group authorization failed.";
    CLUSTER_AUTHORIZATION_FAILED = 31, false, "Cluster authorization failed.";
    REASSIGNMENT_IN_PROGRESS = 60, false, "A partition reassignment is in progress.";
    DELEGATION_TOKEN_AUTH_DISABLED = 61, false, "Delegation Token feature is not enabled.";
    FENCED_LEADER_EPOCH = 74, true, "The leader epoch in the request is older than the epoch on the broker.";
    UNKNOWN_LEADER_EPOCH = 75, true, "The leader epoch in the request is newer than the epoch on the broker.";
    OFFSET_NOT_AVAILABLE = 78, true, "The leader high watermark has not caught up from a recent leader election so the offsets cannot be guaranteed to be monotonically increasing.";
    PREFERRED_LEADER_NOT_AVAILABLE = 80, true, "The preferred leader was not available.";
    THROTTLING_QUOTA_EXCEEDED = 89, true, "The throttling quota has been exceeded.";
    PRODUCER_FENCED = 90, false, "There is a newer producer with the same transactionalId which fences the current one.";
    INVALID_RECORD = 87, false, "This record has failed the validation on broker and hence will be rejected.";
    UNSTABLE_OFFSET_COMMIT = 88, true, "There are unstable offsets that need to be cleared.";
    UNKNOWN_TOPIC_ID = 100, true, "This server does not host this topic ID.";
    INCONSISTENT_TOPIC_ID = 103, true, "The log's topic ID did not match the topic ID in the request.";
    TRANSACTIONAL_ID_NOT_FOUND = 105, false, "The transactionalId could not be found.";
}

impl ErrorCode {
    /// True for `NONE`.
    pub fn is_ok(self) -> bool {
        self.0 == 0
    }

    /// Errors after which the producer should refresh metadata before retrying: the leader it
    /// knows may be stale.
    pub fn invalidates_metadata(self) -> bool {
        matches!(
            self,
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                | ErrorCode::LEADER_NOT_AVAILABLE
                | ErrorCode::NOT_LEADER_OR_FOLLOWER
                | ErrorCode::NOT_ENOUGH_REPLICAS
                | ErrorCode::FENCED_LEADER_EPOCH
                | ErrorCode::UNKNOWN_LEADER_EPOCH
                | ErrorCode::KAFKA_STORAGE_ERROR
                | ErrorCode::UNKNOWN_TOPIC_ID
                | ErrorCode::INCONSISTENT_TOPIC_ID
                | ErrorCode::NETWORK_EXCEPTION
        )
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.name(), self.0, self.description())
    }
}
