package esdbfake_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/purepool/purepool/events/esdb/esdbfake"
)

// These tests pin the protocol answers the fake gives the real client,
// where they follow the server source (IndexWriter.CheckCommit, Streams.Append).

func client(t *testing.T) (*esdbfake.Server, *esdbclient.Client) {
	t.Helper()
	fake, err := esdbfake.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Stop)
	cfg, err := esdbclient.ParseConnectionString(fake.URL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = esdbclient.NoopLogging()
	c, err := esdbclient.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return fake, c
}

func ev() esdbclient.EventData {
	return esdbclient.EventData{EventID: uuid.New(), EventType: "T", ContentType: esdbclient.ContentTypeJson, Data: []byte(`{}`)}
}

func TestIdempotentAppendAnswersTheOriginalRevision(t *testing.T) {
	fake, c := client(t)
	ctx := context.Background()
	a, b := ev(), ev()
	first, err := c.AppendToStream(ctx, "s", esdbclient.AppendToStreamOptions{ExpectedRevision: esdbclient.NoStream{}}, a, b)
	if err != nil || first.NextExpectedVersion != 1 {
		t.Fatalf("first append: %+v, %v", first, err)
	}
	if _, err := c.AppendToStream(ctx, "s", esdbclient.AppendToStreamOptions{ExpectedRevision: esdbclient.Revision(1)}, ev()); err != nil {
		t.Fatal(err)
	}
	n := fake.Len()
	for _, exp := range []esdbclient.ExpectedRevision{esdbclient.NoStream{}, esdbclient.Any{}} {
		again, err := c.AppendToStream(ctx, "s", esdbclient.AppendToStreamOptions{ExpectedRevision: exp}, a, b)
		if err != nil {
			t.Fatalf("%T retry: %v", exp, err)
		}
		if again.NextExpectedVersion != 1 || again.CommitPosition != first.CommitPosition {
			t.Fatalf("%T retry answered %+v, want the original %+v", exp, again, first)
		}
	}
	if fake.Len() != n {
		t.Fatal("a retry was stored")
	}
	// Partial overlap: corrupted idempotency, answered as wrong expected version.
	_, err = c.AppendToStream(ctx, "s", esdbclient.AppendToStreamOptions{ExpectedRevision: esdbclient.NoStream{}}, a, ev())
	var e *esdbclient.Error
	if !errors.As(err, &e) || e.Code() != esdbclient.ErrorCodeWrongExpectedVersion {
		t.Fatalf("partial overlap: %v", err)
	}
}

func TestWrongExpectedVersionMessage(t *testing.T) {
	_, c := client(t)
	ctx := context.Background()
	_, err := c.AppendToStream(ctx, "w", esdbclient.AppendToStreamOptions{ExpectedRevision: esdbclient.Revision(5)}, ev())
	if err == nil || !strings.Contains(err.Error(), "expecting '5' but got 'no_stream'") {
		t.Fatalf("err = %v", err)
	}
	c.AppendToStream(ctx, "w", esdbclient.AppendToStreamOptions{}, ev())
	_, err = c.AppendToStream(ctx, "w", esdbclient.AppendToStreamOptions{ExpectedRevision: esdbclient.NoStream{}}, ev())
	if err == nil || !strings.Contains(err.Error(), "expecting 'no_stream' but got '0'") {
		t.Fatalf("err = %v", err)
	}
}

func TestReadsAndPositions(t *testing.T) {
	_, c := client(t)
	ctx := context.Background()
	rs, _ := c.ReadStream(ctx, "missing", esdbclient.ReadStreamOptions{}, 10)
	if _, err := rs.Recv(); err == nil {
		t.Fatal("reading a missing stream did not fail")
	} else if e := (*esdbclient.Error)(nil); !errors.As(err, &e) || e.Code() != esdbclient.ErrorCodeResourceNotFound {
		t.Fatalf("missing stream: %v", err)
	}
	res, err := c.AppendToStream(ctx, "p", esdbclient.AppendToStreamOptions{}, ev(), ev())
	if err != nil {
		t.Fatal(err)
	}
	// Forwards from an event's position includes it.
	rs, _ = c.ReadAll(ctx, esdbclient.ReadAllOptions{From: esdbclient.Position{Commit: res.CommitPosition, Prepare: res.PreparePosition}}, 10)
	got, err := rs.Recv()
	if err != nil || got.Event.Position.Commit != res.CommitPosition || got.Event.EventNumber != 1 {
		t.Fatalf("read from the last position: %+v, %v", got, err)
	}
	if _, err := rs.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("want EOF, got %v", err)
	}
	// A position inside a record is refused.
	rs, _ = c.ReadAll(ctx, esdbclient.ReadAllOptions{From: esdbclient.Position{Commit: res.CommitPosition - 1, Prepare: res.CommitPosition - 1}}, 10)
	if _, err := rs.Recv(); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("mid-record position accepted: %v", err)
	}
}

// TestReservationByNoStream is the pattern the backend's stepwise writes
// rest on: a reservation stream written with NoStream and an id derived
// from its owner. The owner's retry is idempotent (the original revision,
// nothing stored), even after the stream moved on; another owner's
// reservation is a wrong expected version; a retry at an exact revision is
// idempotent too.
func TestReservationByNoStream(t *testing.T) {
	fake, c := client(t)
	ctx := context.Background()
	mine, theirs, next := ev(), ev(), ev()
	if _, err := c.AppendToStream(ctx, "r", esdbclient.AppendToStreamOptions{ExpectedRevision: esdbclient.NoStream{}}, mine); err != nil {
		t.Fatal(err)
	}
	var e *esdbclient.Error
	if _, err := c.AppendToStream(ctx, "r", esdbclient.AppendToStreamOptions{ExpectedRevision: esdbclient.NoStream{}}, theirs); !errors.As(err, &e) || e.Code() != esdbclient.ErrorCodeWrongExpectedVersion {
		t.Fatalf("another owner's reservation: %v", err)
	}
	if _, err := c.AppendToStream(ctx, "r", esdbclient.AppendToStreamOptions{ExpectedRevision: esdbclient.Revision(0)}, next); err != nil {
		t.Fatal(err)
	}
	n := fake.Len()
	for _, retry := range []struct {
		exp esdbclient.ExpectedRevision
		ev  esdbclient.EventData
		rev uint64
	}{{esdbclient.NoStream{}, mine, 0}, {esdbclient.Revision(0), next, 1}} {
		got, err := c.AppendToStream(ctx, "r", esdbclient.AppendToStreamOptions{ExpectedRevision: retry.exp}, retry.ev)
		if err != nil || got.NextExpectedVersion != retry.rev {
			t.Fatalf("%T retry: %+v, %v", retry.exp, got, err)
		}
	}
	if fake.Len() != n {
		t.Fatal("a retry was stored")
	}
}
