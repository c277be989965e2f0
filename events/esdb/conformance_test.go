package esdb_test

import (
	"os"
	"testing"

	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/esdb"
	"github.com/purepool/purepool/events/esdb/esdbfake"
	"github.com/purepool/purepool/events/eventstoretest"
)

// What the EventStoreDB adapter declares it cannot do (see the package doc).
var esdbOptions = []eventstoretest.Option{
	eventstoretest.NotAtomic(),
	eventstoretest.NoHashChain(),
	eventstoretest.SparsePositions(),
}

// TestConformanceFakeServer runs the shared events.Store suite through the
// real v4 client against the in-process protocol fake, one fresh server per
// subtest.
func TestConformanceFakeServer(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) events.Store {
		fake, err := esdbfake.Listen()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(fake.Stop)
		s, err := esdb.Open(fake.URL(), quiet)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, esdbOptions...)
}

// TestConformanceLiveServer runs the suite against a real EventStoreDB
// named by PUREPOOL_TEST_ESDB_URL (for example
// esdb://127.0.0.1:2113?tls=false). The suite's stream names are unique per
// run, so a server that already holds events is fine.
func TestConformanceLiveServer(t *testing.T) {
	url := os.Getenv("PUREPOOL_TEST_ESDB_URL")
	if url == "" {
		t.Skip("PUREPOOL_TEST_ESDB_URL is not set: no EventStoreDB server to test against")
	}
	eventstoretest.Run(t, func(t *testing.T) events.Store {
		s, err := esdb.Open(url, quiet)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, esdbOptions...)
}
