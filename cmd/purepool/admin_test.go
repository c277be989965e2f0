package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/events"
	eventsqlite "github.com/purepool/purepool/events/sqlite"
	"github.com/purepool/purepool/internal/testenv"
)

// TestAdmin publishes each admin command to a real broker and reads it back
// off the backend's queue, decoded.
func TestAdmin(t *testing.T) {
	url := testenv.RequireAMQP(t)
	p := testenv.UniqueName("pp_admin")
	top := rabbitmq.Topology{Exchange: p + ".x", Queue: p + ".q", DeadLetterExchange: p + ".dlx", DeadLetterQueue: p + ".dead"}
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() }) // after the topology is deleted (cleanups run last-in first-out)
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := rabbitmq.DeclareTopology(ch, top); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rabbitmq.DeleteTopology(ch, top); err != nil {
			t.Errorf("delete topology: %v", err)
		}
	})

	const miner = "B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH"
	payout := "0b8c1c3e-3f2a-4c55-9a59-6bb0a7d2e9f1"
	cases := []struct {
		args  []string
		check func(commands.Command) bool
	}{
		{[]string{"disable-miner", "--address", miner, "--reason", "abuse"}, func(c commands.Command) bool {
			d, ok := c.(commands.DisableMiner)
			return ok && d.Address == miner && d.Reason == "abuse" && d.Network == "main"
		}},
		{[]string{"enable-miner", "--address", miner}, func(c commands.Command) bool { _, ok := c.(commands.EnableMiner); return ok }},
		{[]string{"pause-payouts", "--network", "test", "--reason", "maintenance"}, func(c commands.Command) bool {
			p, ok := c.(commands.PausePayouts)
			return ok && p.Network == "test" && p.Reason == "maintenance"
		}},
		{[]string{"resume-payouts"}, func(c commands.Command) bool { _, ok := c.(commands.ResumePayouts); return ok }},
		{[]string{"trigger-payout"}, func(c commands.Command) bool { _, ok := c.(commands.TriggerPayout); return ok }},
		{[]string{"reconcile-payout", "--payout", payout, "--txid", "ab"}, func(c commands.Command) bool {
			r, ok := c.(commands.ReconcilePayout)
			return ok && r.PayoutID.String() == payout && r.TxID == "ab"
		}},
	}
	for _, tc := range cases {
		var out, errOut bytes.Buffer
		args := append([]string{"admin"}, tc.args...)
		args = append(args, "--amqp-url", url, "--amqp-exchange", top.Exchange)
		if code := Main(context.Background(), args, &out, &errOut); code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, errOut.String())
		}
		d, ok, err := getOne(ch, top.Queue)
		if err != nil || !ok {
			t.Fatalf("%v: nothing on the queue (%v)", tc.args, err)
		}
		c, err := commands.Decode(commands.Message{ID: uuidOf(t, d.MessageId), Name: d.Type, Body: d.Body})
		if err != nil || !tc.check(c) {
			t.Fatalf("%v: queued %#v (%v)", tc.args, c, err)
		}
		if !strings.Contains(out.String(), "published") {
			t.Errorf("%v: stdout %q", tc.args, out.String())
		}
	}

	// Mistakes are refused before anything is published.
	for _, bad := range [][]string{
		{"admin"},
		{"admin", "nosuch"},
		{"admin", "disable-miner", "--address", "Bnotanaddress", "--amqp-url", url},
		{"admin", "reconcile-payout", "--payout", "x", "--amqp-url", url},
		{"admin", "trigger-payout", "--network", "mars", "--amqp-url", url},
		{"admin", "trigger-payout"},
	} {
		var out, errOut bytes.Buffer
		if code := Main(context.Background(), bad, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", bad, code, errOut.String())
		}
	}
	if _, ok, _ := getOne(ch, top.Queue); ok {
		t.Error("a refused admin command reached the queue")
	}
}

func getOne(ch *amqp.Channel, queue string) (amqp.Delivery, bool, error) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		d, ok, err := ch.Get(queue, true)
		if ok || err != nil || time.Now().After(deadline) {
			return d, ok, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func uuidOf(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	if err != nil {
		t.Fatalf("message id %q: %v", s, err)
	}
	return id
}

// With the in-process bus (`purepool run` without broker.url), `purepool
// admin --config` hands the command to the running pool over its admin
// socket in data_dir.
func TestAdminOnTheInProcessBus(t *testing.T) {
	srv, nodeURL := startNode(t)
	dir := t.TempDir()
	file := writeFile(t, "purepool.toml", embeddedConfig(dir, srv.Node.WalletAddress(), nodeURL))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut lockedBuffer
	done := make(chan int, 1)
	go func() { done <- Main(ctx, []string{"run", "--config", file, "--log-format", "text"}, &out, &errOut) }()
	socket := filepath.Join(dir, "admin.sock")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(socket); err == nil {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("run exited %d: %s", code, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no admin socket: %s", errOut.String())
		}
	}
	var aout, aerr bytes.Buffer
	if code := Main(ctx, []string{"admin", "pause-payouts", "--config", file, "--network", "test", "--reason", "maintenance"}, &aout, &aerr); code != 0 ||
		!strings.Contains(aout.String(), "PausePayouts") {
		t.Fatalf("admin over the socket: exit %d: %s %s", code, aout.String(), aerr.String())
	}
	store, err := eventsqlite.Open(ctx, filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		envs, err := events.ReadWholeStream(ctx, store, events.StreamPayoutSchedule("test"))
		if err == nil && len(envs) == 1 && envs[0].Type == events.TypePayoutsPaused {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pool never recorded the pause: %v %v\n%s", envs, err, errOut.String())
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("run exited %d: %s", code, errOut.String())
	}
	// Once the pool has stopped, nothing listens.
	if code := Main(context.Background(), []string{"admin", "trigger-payout", "--config", file, "--network", "test"}, &aout, &aerr); code == 0 {
		t.Fatal("an admin command reached a stopped pool")
	}
}
