package benchfrontend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os/exec"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/projections"
)

// env is the benchmark's private PostgreSQL database and RabbitMQ vhost,
// removed by close.
type env struct {
	readModelURL string
	amqpURL      string
	topology     rabbitmq.Topology
	cleanups     []func()
}

func (e *env) close() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}

func uniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// newEnv creates a database in the PostgreSQL server of adminURL, migrates
// the read model into it, and a vhost with the commands topology in the
// RabbitMQ broker of amqpURL (with rabbitmqctl; without it, uniquely named
// exchange and queues in the URL's vhost).
func newEnv(ctx context.Context, pgAdminURL, amqpAdminURL string) (_ *env, err error) {
	e := &env{}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	conn, err := pgx.Connect(ctx, pgAdminURL)
	if err != nil {
		return nil, fmt.Errorf("benchfrontend: PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	db := uniqueName("pp_bench")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		return nil, fmt.Errorf("benchfrontend: create database: %w", err)
	}
	e.cleanups = append(e.cleanups, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, pgAdminURL); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
			_ = c.Close(ctx)
		}
	})
	u, err := url.Parse(pgAdminURL)
	if err != nil {
		return nil, fmt.Errorf("benchfrontend: PostgreSQL URL: %w", err)
	}
	u.Path = "/" + db
	e.readModelURL = u.String()

	au, err := amqp.ParseURI(amqpAdminURL)
	if err != nil {
		return nil, fmt.Errorf("benchfrontend: RabbitMQ URL: %w", err)
	}
	e.topology = rabbitmq.DefaultTopology()
	if ctl, lerr := exec.LookPath("rabbitmqctl"); lerr == nil {
		vhost := uniqueName("pp_bench")
		if out, err := exec.CommandContext(ctx, ctl, "add_vhost", vhost).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("benchfrontend: rabbitmqctl add_vhost: %w: %s", err, out)
		}
		e.cleanups = append(e.cleanups, func() { _ = exec.Command(ctl, "delete_vhost", vhost).Run() })
		if out, err := exec.CommandContext(ctx, ctl, "set_permissions", "-p", vhost, au.Username, ".*", ".*", ".*").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("benchfrontend: rabbitmqctl set_permissions: %w: %s", err, out)
		}
		au.Vhost = vhost
	} else {
		p := uniqueName("pp_bench")
		e.topology = rabbitmq.Topology{Exchange: p + ".x", Queue: p + ".q", DeadLetterExchange: p + ".dlx", DeadLetterQueue: p + ".dead", DeliveryLimit: 20}
	}
	e.amqpURL = au.String()
	ac, err := amqp.Dial(e.amqpURL)
	if err != nil {
		return nil, fmt.Errorf("benchfrontend: RabbitMQ: %w", err)
	}
	ch, err := ac.Channel()
	if err != nil {
		_ = ac.Close()
		return nil, fmt.Errorf("benchfrontend: RabbitMQ: %w", err)
	}
	if err := rabbitmq.DeclareTopology(ch, e.topology); err != nil {
		_ = ac.Close()
		return nil, fmt.Errorf("benchfrontend: %w", err)
	}
	top := e.topology
	e.cleanups = append(e.cleanups, func() { _ = rabbitmq.DeleteTopology(ch, top); _ = ac.Close() })
	return e, nil
}

// seed gives the read model what a running pool has: a fresh chain tip and
// the bench miner with a target of its own.
func seed(ctx context.Context, rm *projections.DB, network, address, target string) error {
	if err := rm.Migrate(ctx); err != nil {
		return err
	}
	now := time.Now().UTC()
	id := events.MinerID(network, address)
	evs := []events.Event{
		events.ChainBlockRecorded{Network: network, Height: 100, Hash: fmt.Sprintf("%064x", 100), Time: now},
		events.MinerRegistered{Network: network, MinerID: id, Address: address, At: now},
		events.MinerTargetChanged{Network: network, MinerID: id, Target: target, Reason: "bench", At: now},
	}
	envs := make([]events.Envelope, 0, len(evs))
	for i, ev := range evs {
		ne, err := events.New(uuid.New(), ev, events.Metadata{})
		if err != nil {
			return err
		}
		envs = append(envs, events.Envelope{ID: ne.ID, Position: uint64(i + 1), Stream: "bench", Type: ne.Type,
			SchemaVersion: ne.SchemaVersion, Data: ne.Data, RecordedAt: now})
	}
	_, err := rm.ApplyBatch(ctx, 0, envs)
	return err
}
