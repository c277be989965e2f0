// Package esdbfake is a test double of the EventStoreDB gRPC *server
// protocol* — not of Purepool's event store. It serves the
// event_store.client.streams.Streams service on 127.0.0.1 without TLS, so
// the real EventStore-Client-Go v4 client (and the events/esdb adapter on
// top of it) can be exercised in CI, where no EventStoreDB server exists.
//
// What it reproduces, from the server source (IndexWriter.CheckCommit,
// Streams.Append, Streams.Read and the $all subscription enumerators):
//
//   - Append: expected revision Any / NoStream / StreamExists / exact, the
//     idempotency rules (a retried write with the same ids at the same place
//     succeeds with the ORIGINAL revisions and position; a partial overlap
//     is "corrupted idempotency" and answered as wrong expected version),
//     and the AppendResp.WrongExpectedVersion message with both the current
//     and the legacy 20.6.0 fields. Each appended event commits itself:
//     commit == prepare == its log position. Positions are byte-like
//     offsets: increasing, not dense.
//   - Read of a stream (forwards/backwards, Start/End/revision, count), with
//     StreamNotFound for a stream without events.
//   - Read of $all (forwards from Start or a position, INCLUSIVE; backwards
//     from End or a position, exclusive), with optional filter.
//   - Subscription to $all: Confirmation first, catch-up from Start or
//     after a position (EXCLUSIVE), CaughtUp, then live events; event-type
//     and stream-name filters (prefix or regex); Checkpoint messages when a
//     filter skipped events.
//   - System events: a fresh fake holds a few $-typed events in $-streams,
//     as a fresh server does, and AppendSystem adds more at any point.
//
// What it does not: TLS, authentication, clustering/gossip, ServerFeatures
// (the client tolerates Unimplemented), BatchAppend, Delete/Tombstone,
// stream metadata semantics, subscriptions to single streams, persistent
// subscriptions, size limits, scavenging, and the bounded size of the
// server's idempotency cache for Any (the fake remembers every id).
//
// Test hooks: DropSubscriptions ends every live subscription with
// Unavailable, Stop/Restart take the listener away and bring it back on the
// same address (the data survives), SubscriptionStarts records where each
// subscription asked to start.
package esdbfake

import (
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type record struct {
	id          uuid.UUID
	stream      string
	number      uint64
	pos         uint64
	typ         string
	contentType string
	created     time.Time
	data, meta  []byte
}

// Start is where a subscription asked to begin: FromStart, or after Commit/Prepare.
type Start struct {
	FromStart bool
	FromEnd   bool
	Commit    uint64
	Prepare   uint64
}

// Server is the fake. Its zero value is not usable; call New or Listen.
type Server struct {
	api.UnimplementedStreamsServer

	mu       sync.Mutex
	log      []*record
	byStream map[string][]*record
	byPos    map[uint64]*record
	ids      map[uuid.UUID]*record
	end      uint64
	changed  chan struct{}
	dropped  chan struct{}
	starts   []Start
	appends  int

	addr string
	srv  *grpc.Server
}

// New returns a fake holding the system events of a fresh server, not yet listening.
func New() *Server {
	s := &Server{
		byStream: map[string][]*record{},
		byPos:    map[uint64]*record{},
		ids:      map[uuid.UUID]*record{},
		end:      0,
		changed:  make(chan struct{}),
		dropped:  make(chan struct{}),
	}
	s.AppendSystem("$epoch-information", "$epoch-information")
	s.AppendSystem("$settings", "$settings")
	s.AppendSystem("$stats-127.0.0.1:2113", "$statsCollected")
	return s
}

// Listen starts a fake on a free loopback port.
func Listen() (*Server, error) {
	s := New()
	if err := s.serve("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) serve(addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("esdbfake: listen: %w", err)
	}
	srv := grpc.NewServer()
	api.RegisterStreamsServer(srv, s)
	s.mu.Lock()
	s.addr = lis.Addr().String()
	s.srv = srv
	s.mu.Unlock()
	go srv.Serve(lis) //nolint:errcheck // returns when stopped
	return nil
}

// Addr is host:port of the listener.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// URL is an esdb:// connection string for the fake. extra is appended to
// the query (for example "maxDiscoverAttempts=2").
func (s *Server) URL(extra ...string) string {
	q := append([]string{"tls=false"}, extra...)
	return "esdb://" + s.Addr() + "?" + strings.Join(q, "&")
}

// Stop closes the listener and every open call; the data is kept.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

// Restart listens again on the address used before.
func (s *Server) Restart() error {
	return s.serve(s.Addr())
}

// DropSubscriptions ends every open subscription with codes.Unavailable,
// as a server does when it shuts down a subscription.
func (s *Server) DropSubscriptions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.dropped)
	s.dropped = make(chan struct{})
}

// SubscriptionStarts lists where each $all subscription asked to start.
func (s *Server) SubscriptionStarts() []Start {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Start(nil), s.starts...)
}

// Appends counts the Append calls that reached the fake.
func (s *Server) Appends() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appends
}

// Len is the number of records in $all, system events included.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.log)
}

// AppendSystem writes a system event ($-typed) to a stream, as the server
// does for statistics and metadata.
func (s *Server) AppendSystem(stream, typ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.write(stream, []*record{{id: uuid.New(), typ: typ, contentType: "application/json", data: []byte(`{}`)}})
}

// write appends records to a stream and to $all. Callers hold mu.
func (s *Server) write(stream string, recs []*record) {
	now := time.Now().UTC()
	for _, r := range recs {
		r.stream = stream
		r.number = uint64(len(s.byStream[stream]))
		r.pos = s.end
		r.created = now
		// A log record's size: a fixed header plus its variable parts.
		s.end += 97 + uint64(len(stream)+len(r.typ)+len(r.data)+len(r.meta))
		s.log = append(s.log, r)
		s.byStream[stream] = append(s.byStream[stream], r)
		s.byPos[r.pos] = r
		s.ids[r.id] = r
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

const (
	expectedAny          int64 = -2
	expectedNoStream     int64 = -1
	expectedStreamExists int64 = -4
)

type decision int

const (
	commitOK decision = iota
	commitWrongExpectedVersion
	commitIdempotent
	commitCorruptedIdempotency
)

// checkCommit follows the server's IndexWriter.CheckCommit. Callers hold mu.
//
// The documented contract it reproduces (EventStoreDB docs, "Appending
// events" → "Idempotence", and "Handling concurrency"; server source
// src/EventStore.Core/Services/Storage/ReaderIndex/IndexWriter.cs): a write
// is idempotent when it is retried with the same event ids at the same
// expected revision: the server answers success with the revisions the
// events were first written at and stores nothing again. For an exact
// revision or NoStream this is checked against the stream itself, event
// by event from the expected revision on; for Any (and StreamExists)
// against the server's cache of recent ids. A write whose first id is not
// the stored one is a concurrency conflict (wrong expected version); a
// write whose ids match only in part ("corrupted idempotency") is refused,
// and the v4 client receives that too as wrong expected version: never a
// success, never a second copy.
func (s *Server) checkCommit(stream string, expected int64, ids []uuid.UUID) (d decision, cur int64, end uint64) {
	recs := s.byStream[stream]
	cur = int64(len(recs)) - 1
	if cur < 0 {
		if expected == expectedAny || expected == expectedNoStream {
			return commitOK, cur, 0
		}
		return commitWrongExpectedVersion, cur, 0
	}
	if expected == expectedAny || expected == expectedStreamExists {
		first := true
		for _, id := range ids {
			r, ok := s.ids[id]
			if !ok || r.stream != stream {
				if first {
					return commitOK, cur, 0
				}
				return commitCorruptedIdempotency, cur, 0
			}
			end = r.number
			first = false
		}
		if first {
			return commitOK, cur, 0
		}
		return commitIdempotent, cur, end
	}
	if expected < cur {
		n := expected
		for i, id := range ids {
			n++
			if n <= cur && recs[n].id == id {
				continue
			}
			if i == 0 {
				return commitWrongExpectedVersion, cur, 0
			}
			return commitCorruptedIdempotency, cur, 0
		}
		if len(ids) == 0 {
			return commitWrongExpectedVersion, cur, 0
		}
		return commitIdempotent, cur, uint64(n)
	}
	if expected > cur {
		return commitWrongExpectedVersion, cur, 0
	}
	return commitOK, cur, 0
}

// Append implements the Streams.Append RPC.
func (s *Server) Append(stream api.Streams_AppendServer) error {
	head, err := stream.Recv()
	if err != nil {
		return err
	}
	opts := head.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "first append message must carry options")
	}
	name := string(opts.GetStreamIdentifier().GetStreamName())
	var expected int64
	switch v := opts.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_Revision:
		expected = int64(v.Revision)
	case *api.AppendReq_Options_NoStream:
		expected = expectedNoStream
	case *api.AppendReq_Options_Any:
		expected = expectedAny
	case *api.AppendReq_Options_StreamExists:
		expected = expectedStreamExists
	default:
		return status.Error(codes.InvalidArgument, "expected stream revision missing")
	}
	var recs []*record
	var ids []uuid.UUID
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		pm := msg.GetProposedMessage()
		if pm == nil {
			return status.Error(codes.InvalidArgument, "expected a proposed message")
		}
		typ, ok := pm.GetMetadata()["type"]
		if !ok {
			return status.Error(codes.InvalidArgument, "required metadata property missing: type")
		}
		ct, ok := pm.GetMetadata()["content-type"]
		if !ok {
			return status.Error(codes.InvalidArgument, "required metadata property missing: content-type")
		}
		id, err := fromProtoUUID(pm.GetId())
		if err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		recs = append(recs, &record{id: id, typ: typ, contentType: ct,
			data: append([]byte(nil), pm.GetData()...), meta: append([]byte(nil), pm.GetCustomMetadata()...)})
		ids = append(ids, id)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.appends++
	d, cur, end := s.checkCommit(name, expected, ids)
	switch d {
	case commitOK:
		if len(recs) == 0 {
			return stream.SendAndClose(success(cur, nil))
		}
		s.write(name, recs)
		last := recs[len(recs)-1]
		return stream.SendAndClose(success(int64(last.number), last))
	case commitIdempotent:
		return stream.SendAndClose(success(int64(end), s.byStream[name][end]))
	default:
		return stream.SendAndClose(wrongExpectedVersion(opts, expected, cur))
	}
}

func success(revision int64, at *record) *api.AppendResp {
	ok := &api.AppendResp_Success{}
	if revision < 0 {
		ok.CurrentRevisionOption = &api.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
	} else {
		ok.CurrentRevisionOption = &api.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(revision)}
	}
	if at == nil {
		ok.PositionOption = &api.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
	} else {
		ok.PositionOption = &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{CommitPosition: at.pos, PreparePosition: at.pos}}
	}
	return &api.AppendResp{Result: &api.AppendResp_Success_{Success: ok}}
}

func wrongExpectedVersion(opts *api.AppendReq_Options, expected, cur int64) *api.AppendResp {
	w := &api.AppendResp_WrongExpectedVersion{}
	switch opts.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_Any:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
	case *api.AppendReq_Options_StreamExists:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
	case *api.AppendReq_Options_NoStream:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: ^uint64(0)}
	default:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: uint64(expected)}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: uint64(expected)}
	}
	if cur < 0 {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	} else {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(cur)}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: uint64(cur)}
	}
	return &api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

func fromProtoUUID(u *shared.UUID) (uuid.UUID, error) {
	if st := u.GetStructured(); st != nil {
		var b [16]byte
		for i := 0; i < 8; i++ {
			b[i] = byte(uint64(st.MostSignificantBits) >> (56 - 8*i))
			b[8+i] = byte(uint64(st.LeastSignificantBits) >> (56 - 8*i))
		}
		return uuid.UUID(b), nil
	}
	return uuid.Parse(u.GetString_())
}

func toProtoUUID(id uuid.UUID, asString bool) *shared.UUID {
	if asString {
		return &shared.UUID{Value: &shared.UUID_String_{String_: id.String()}}
	}
	var most, least uint64
	for i := 0; i < 8; i++ {
		most = most<<8 | uint64(id[i])
		least = least<<8 | uint64(id[8+i])
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits: int64(most), LeastSignificantBits: int64(least)}}}
}

func readEvent(r *record, uuidAsString bool) *api.ReadResp {
	return &api.ReadResp{Content: &api.ReadResp_Event{Event: &api.ReadResp_ReadEvent{
		Event: &api.ReadResp_ReadEvent_RecordedEvent{
			Id:               toProtoUUID(r.id, uuidAsString),
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
			StreamRevision:   r.number,
			PreparePosition:  r.pos,
			CommitPosition:   r.pos,
			Metadata: map[string]string{
				"type":         r.typ,
				"content-type": r.contentType,
				// .NET ticks (100 ns) since the Unix epoch.
				"created": strconv.FormatInt(r.created.UnixNano()/100, 10),
			},
			CustomMetadata: r.meta,
			Data:           r.data,
		},
		Position: &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: r.pos},
	}}}
}

// filter is a compiled FilterOptions; nil passes everything.
type filter struct {
	onType   bool
	prefixes []string
	re       *regexp.Regexp
}

func compileFilter(o *api.ReadReq_Options) (*filter, error) {
	fo := o.GetFilter()
	if fo == nil {
		return nil, nil
	}
	var expr *api.ReadReq_Options_FilterOptions_Expression
	f := &filter{}
	switch v := fo.GetFilter().(type) {
	case *api.ReadReq_Options_FilterOptions_EventType:
		f.onType, expr = true, v.EventType
	case *api.ReadReq_Options_FilterOptions_StreamIdentifier:
		expr = v.StreamIdentifier
	default:
		return nil, errors.New("filter without event type or stream identifier")
	}
	f.prefixes = expr.GetPrefix()
	if expr.GetRegex() != "" {
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil, err
		}
		f.re = re
	}
	return f, nil
}

func (f *filter) pass(r *record) bool {
	if f == nil {
		return true
	}
	subject := r.stream
	if f.onType {
		subject = r.typ
	}
	if f.re != nil {
		return f.re.MatchString(subject)
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(subject, p) {
			return true
		}
	}
	return false
}

// Read implements the Streams.Read RPC.
func (s *Server) Read(req *api.ReadReq, out api.Streams_ReadServer) error {
	o := req.GetOptions()
	if o == nil || o.GetUuidOption() == nil {
		return status.Error(codes.InvalidArgument, "options and uuid option are required")
	}
	asString := o.GetUuidOption().GetString_() != nil
	f, err := compileFilter(o)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	backwards := o.GetReadDirection() == api.ReadReq_Options_Backwards
	switch o.GetCountOption().(type) {
	case *api.ReadReq_Options_Count:
		count := o.GetCount()
		if so := o.GetStream(); so != nil {
			return s.readStream(out, so, backwards, count, asString)
		}
		if ao := o.GetAll(); ao != nil {
			return s.readAll(out, ao, backwards, count, f, asString)
		}
	case *api.ReadReq_Options_Subscription:
		if backwards {
			return status.Error(codes.InvalidArgument, "subscriptions read forwards")
		}
		if ao := o.GetAll(); ao != nil {
			return s.subscribeAll(out, ao, f, asString)
		}
		return status.Error(codes.Unimplemented, "esdbfake: stream subscriptions are not implemented")
	}
	return status.Error(codes.InvalidArgument, "invalid read options")
}

func (s *Server) readStream(out api.Streams_ReadServer, so *api.ReadReq_Options_StreamOptions, backwards bool, count uint64, asString bool) error {
	name := string(so.GetStreamIdentifier().GetStreamName())
	s.mu.Lock()
	recs := append([]*record(nil), s.byStream[name]...)
	s.mu.Unlock()
	if len(recs) == 0 {
		return out.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{StreamNotFound: &api.ReadResp_StreamNotFound{
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)}}}})
	}
	last := int64(len(recs)) - 1
	var from int64
	switch v := so.GetRevisionOption().(type) {
	case *api.ReadReq_Options_StreamOptions_Start:
		from = 0
	case *api.ReadReq_Options_StreamOptions_End:
		from = last + 1
		if backwards {
			from = last
		}
	case *api.ReadReq_Options_StreamOptions_Revision:
		from = int64(v.Revision)
	}
	var sent uint64
	if backwards {
		for i := min(from, last); i >= 0 && sent < count; i-- {
			if err := out.Send(readEvent(recs[i], asString)); err != nil {
				return err
			}
			sent++
		}
		return nil
	}
	for i := from; i <= last && sent < count; i++ {
		if err := out.Send(readEvent(recs[i], asString)); err != nil {
			return err
		}
		sent++
	}
	return nil
}

// checkPosition rejects a $all position that is not the start of a record
// (or the end of the log), as the server's chunk reader does.
func (s *Server) checkPosition(p *api.ReadReq_Options_Position) error {
	if p.GetCommitPosition() != p.GetPreparePosition() {
		return status.Error(codes.InvalidArgument, "esdbfake: invalid position: prepare != commit")
	}
	if _, ok := s.byPos[p.GetCommitPosition()]; !ok && p.GetCommitPosition() < s.end {
		return status.Error(codes.InvalidArgument, "esdbfake: invalid position: not a record boundary")
	}
	return nil
}

func (s *Server) readAll(out api.Streams_ReadServer, ao *api.ReadReq_Options_AllOptions, backwards bool, count uint64, f *filter, asString bool) error {
	s.mu.Lock()
	log := s.log
	var err error
	if p := ao.GetPosition(); p != nil {
		err = s.checkPosition(p)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	var sel []*record
	switch {
	case !backwards && ao.GetStart() != nil:
		sel = log
	case !backwards && ao.GetPosition() != nil:
		p := ao.GetPosition().GetCommitPosition()
		for _, r := range log {
			if r.pos >= p { // forwards reads include the event at the position
				sel = append(sel, r)
			}
		}
	case backwards && ao.GetEnd() != nil:
		for i := len(log) - 1; i >= 0; i-- {
			sel = append(sel, log[i])
		}
	case backwards && ao.GetPosition() != nil:
		p := ao.GetPosition().GetCommitPosition()
		for i := len(log) - 1; i >= 0; i-- {
			if log[i].pos < p { // backwards reads return what lies before it
				sel = append(sel, log[i])
			}
		}
	}
	var sent uint64
	for _, r := range sel {
		if sent == count {
			break
		}
		if !f.pass(r) {
			continue
		}
		if err := out.Send(readEvent(r, asString)); err != nil {
			return err
		}
		sent++
	}
	return nil
}

func (s *Server) subscribeAll(out api.Streams_ReadServer, ao *api.ReadReq_Options_AllOptions, f *filter, asString bool) error {
	s.mu.Lock()
	var next uint64 // the lowest position still to consider
	st := Start{}
	switch {
	case ao.GetStart() != nil:
		st.FromStart = true
	case ao.GetEnd() != nil:
		st.FromEnd = true
		next = s.end
	case ao.GetPosition() != nil:
		p := ao.GetPosition()
		if err := s.checkPosition(p); err != nil {
			s.mu.Unlock()
			return err
		}
		st.Commit, st.Prepare = p.GetCommitPosition(), p.GetPreparePosition()
		next = p.GetCommitPosition() + 1 // subscriptions start after the position
	}
	s.starts = append(s.starts, st)
	s.mu.Unlock()

	if err := out.Send(&api.ReadResp{Content: &api.ReadResp_Confirmation{Confirmation: &api.ReadResp_SubscriptionConfirmation{
		SubscriptionId: uuid.NewString()}}}); err != nil {
		return err
	}
	ctx := out.Context()
	caughtUp := false
	for {
		s.mu.Lock()
		var batch []*record
		var skippedTo uint64
		skipped := false
		for _, r := range s.log {
			if r.pos < next {
				continue
			}
			if f.pass(r) {
				batch = append(batch, r)
			} else {
				skipped, skippedTo = true, r.pos
			}
		}
		if len(s.log) > 0 && s.log[len(s.log)-1].pos >= next {
			next = s.log[len(s.log)-1].pos + 1
		}
		changed, dropped := s.changed, s.dropped
		s.mu.Unlock()

		for _, r := range batch {
			if err := out.Send(readEvent(r, asString)); err != nil {
				return err
			}
		}
		if skipped {
			if err := out.Send(&api.ReadResp{Content: &api.ReadResp_Checkpoint_{Checkpoint: &api.ReadResp_Checkpoint{
				CommitPosition: skippedTo, PreparePosition: skippedTo}}}); err != nil {
				return err
			}
		}
		if !caughtUp {
			caughtUp = true
			if err := out.Send(&api.ReadResp{Content: &api.ReadResp_CaughtUp_{CaughtUp: &api.ReadResp_CaughtUp{}}}); err != nil {
				return err
			}
		}
		select {
		case <-changed:
		case <-dropped:
			return status.Error(codes.Unavailable, "esdbfake: subscription dropped")
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

// Compile-time check that the fake serves the generated interface.
var _ api.StreamsServer = (*Server)(nil)
