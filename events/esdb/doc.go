// Package esdb is the EventStoreDB adapter of the event-store port
// (events.Store), built on github.com/EventStore/EventStore-Client-Go/v4/esdb.
// It must not be linked into a binary together with the KurrentDB client:
// both register the same protobuf names and the program panics at init.
//
// # Mapping
//
//   - Envelope.ID is the EventData.EventID, so the server's own idempotency
//     check recognises a retried write; Type is the EventType; Data is the
//     JSON body (content type application/json); the custom metadata is a
//     JSON object holding events.Metadata plus "schema_version" (and the
//     "$correlationId"/"$causationId" keys EventStoreDB's system projections
//     understand).
//   - Version is the EventNumber (0-based revision), RecordedAt the server's
//     CreatedDate truncated to microseconds.
//   - Position is the $all COMMIT position. EventStoreDB positions are byte
//     offsets in the transaction log: they increase in commit order but are
//     not dense (consecutive events are tens or hundreds apart), and system
//     events ($-prefixed types, such as $statsCollected and $metadata)
//     occupy positions in between. For events appended over gRPC each event
//     commits itself, so prepare == commit and one number identifies an
//     event; the adapter therefore keeps only the commit position and asks
//     for Position{Commit: p, Prepare: p} when it resumes from p. Events
//     written by the legacy TCP client's multi-request transactions (where
//     prepare != commit) are not supported. Stream reads carry positions
//     only on servers that report the position of self-committed events
//     (checked in the server source, ResolvedEvent.CalculatePosition);
//     an older server reports none and the adapter leaves Position 0.
//   - Expected versions: events.Any, events.NoStream and events.Exact(n) map
//     to esdb.Any{}, esdb.NoStream{} and esdb.Revision(n); the server's
//     ErrorCodeWrongExpectedVersion is returned wrapped so that both
//     errors.Is(err, events.ErrWrongExpectedVersion) and errors.As(err,
//     **esdb.Error) work.
//
// # What this store does not do
//
//   - Atomic multi-stream writes: the v4 protocol appends to one stream per
//     call, so an Append naming more than one StreamWrite returns
//     events.ErrNotAtomic and writes nothing. The backend then stores each
//     multi-stream decision one stream at a time (backend.Backend's
//     storeWrites): a share's bible-hash reservation first (NoStream, an id
//     derived from the command), then a new worker, then the solution; a
//     pool block's discovery or orphaning, then the chain height. A crash
//     between two writes is closed by the redelivery (or the follower's next
//     pass), which finds its own reservation or its earlier writes by their
//     ids and writes the rest. The jobs' locks are leases in the store
//     (backend/lease), as EventStoreDB has no advisory locks.
//   - The tamper-evidence hash chain: EventStoreDB assigns positions itself,
//     so the adapter cannot compute ChainHash at append time. PrevHash and
//     Hash are always empty, and Store.KeepsChain (events.ChainKeeper) says
//     so: `purepool audit` then reports "hash chain: not kept by
//     EventStoreDB — tampering is not detectable from the log alone".
//   - Event ids are unique per stream, not per store: the server checks ids
//     only within the stream written, and for Any only against a bounded
//     in-memory cache of recent writes (lost on a restart), so a retry
//     with Any can be stored twice; writes that must be idempotent should
//     use NoStream or Exact, which the server checks against the stream
//     itself. An id reused in another stream is stored again, where the SQL
//     stores would reject it.
//
// # Positions given back to the store
//
// ReadAll(after) and Subscribe(after) resume from Position{after, after}:
// after must be 0 or a Position this store returned. The server rejects a
// position inside a log record ("invalid position"); Subscribe returns that
// error instead of retrying. A read of $all from a position includes the
// event at it (the adapter drops it); a subscription starts after it.
// ReadAll and Head skip system events client-side (the v4 client has no
// filter on reads), so where many system events follow the last of ours
// (statistics written to the database, for example) they read past them in
// pages of 512.
// On a secure server reading $all needs a user allowed to (by default
// $admins): put user:password in the connection string.
//
// # Connection loss
//
// The v4 client closes itself for good when a rediscovery fails (with the
// defaults after about one second of an unreachable node) and then answers
// every call with ErrorCodeConnectionClosed before sending anything. The
// Store replaces such a client and repeats the call once; Subscribe also
// resubscribes, with backoff up to 5 s, after a drop or a transient error,
// from the last position its handler accepted.
//
// # Duplicate detection
//
// Append reads the stream's last revision L before writing, sends the append
// and reads the written events back (for their positions and timestamps). The
// server answers a retried write (same ids at the same place) with success
// and the revisions of the ORIGINAL events, so the result is a duplicate
// exactly when its first revision is <= L. If two callers retry the very
// same write concurrently, both may report Duplicate false; the stored events
// are still written once. A write whose ids partly overlap stored events is
// refused with events.ErrDuplicateMismatch: for Any the server itself
// answers wrong-expected-version only in that case ("corrupted idempotency"),
// and for NoStream/Exact the adapter compares the ids stored at the written
// revisions.
//
// # Tests
//
// CI proves the adapter against esdbfake, an in-process gRPC server on
// 127.0.0.1 that speaks the EventStoreDB Streams protocol (appends with
// the server's expected-revision and idempotency rules, stream and $all
// reads, catch-up/live $all subscriptions with filters and drops). That
// proves the mapping, the error translation and the resubscription logic
// through the real client library. It does NOT prove behaviour that only a
// real server has (its log positions, caches, scavenging, clustering,
// authentication): no EventStoreDB server can be installed on the project
// machines, so the live tier runs only when PUREPOOL_TEST_ESDB_URL names one
// (for example esdb://127.0.0.1:2113?tls=false).
package esdb
