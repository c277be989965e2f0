// Package rabbitmq carries commands over RabbitMQ (amqp091-go): a Publisher
// for the frontend that only returns nil once the broker has confirmed a
// routed, persistent message, a Consumer for the backend that acknowledges
// only after the handler succeeded, and the topology both rely on, declared
// once at deploy time by DeclareTopology (purepool setup) and never by the
// frontend, whose user has no configure permission.
//
// Topology: the frontend publishes to a durable topic exchange
// (purepool.commands) with the command name as routing key; the durable
// quorum queue purepool.commands.q is bound with "#" so it receives every
// command. A topic exchange lets a later deployment split commands over
// several queues (e.g. "SubmitSolution" apart from admin commands) by adding
// bindings, without touching the frontend or its permissions. Dead letters
// go to the fanout exchange purepool.commands.dlx, bound to the quorum queue
// purepool.commands.dead.
//
// Under load the Publisher gathers concurrent commands of one name into one
// broker message (group commit, batch.go): one confirm then answers many
// Publish calls. The Consumer handles each command of a batch on its own;
// a bad command is dead-lettered alone, as the single message it would
// have been. Consumers read both batches and single messages, so upgrade
// the backends before the frontends (or keep BatchSize 1 until they are).
//
// Cluster: Config.URL may list the nodes of a RabbitMQ cluster,
// comma-separated (amqp://u:p@h1:5672/v,amqp://u:p@h2:5672/v); the Publisher
// and the Consumer connect to the first that answers and, after losing a
// connection, try the next ones (conn.go). The quorum queue is replicated on
// the nodes, so a node's death loses nothing confirmed.
package rabbitmq

import (
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/commands"
)

// Topology names the broker objects the command bus uses. Tests give every
// run its own names (testenv.UniqueName) so they never share queues.
type Topology struct {
	Exchange           string // topic exchange the frontend publishes to
	Queue              string // quorum queue the backend consumes
	DeadLetterExchange string // fanout exchange for dead letters
	DeadLetterQueue    string // quorum queue holding dead letters for inspection
	// DeliveryLimit is the queue's x-delivery-limit: how many times a
	// delivery may come back (nack with requeue, consumer lost) before the
	// broker dead-letters it. A message is handled at most DeliveryLimit+1
	// times. Quorum queues in RabbitMQ 3.10 have no default, so it is
	// always set (DefaultDeliveryLimit when zero).
	DeliveryLimit int
	// MaxLength bounds the command queue (x-max-length); with
	// x-overflow=reject-publish a full queue nacks new publishes, which the
	// Publisher reports as an error. Zero means unbounded.
	MaxLength int
}

// DefaultDeliveryLimit is used when Topology.DeliveryLimit is zero.
const DefaultDeliveryLimit = commands.DefaultDeliveryLimit

// DefaultTopology returns the production names.
func DefaultTopology() Topology {
	return Topology{
		Exchange:           "purepool.commands",
		Queue:              "purepool.commands.q",
		DeadLetterExchange: "purepool.commands.dlx",
		DeadLetterQueue:    "purepool.commands.dead",
		DeliveryLimit:      DefaultDeliveryLimit,
	}
}

func (t Topology) deliveryLimit() int {
	if t.DeliveryLimit <= 0 {
		return DefaultDeliveryLimit
	}
	return t.DeliveryLimit
}

func (t Topology) validate() error {
	if t.Exchange == "" || t.Queue == "" || t.DeadLetterExchange == "" || t.DeadLetterQueue == "" {
		return errors.New("rabbitmq: topology needs exchange, queue, dead-letter exchange and dead-letter queue names")
	}
	return nil
}

// QueueArgs are the arguments of the command queue. Declaring an existing
// queue with different arguments fails (PRECONDITION_FAILED), which is how a
// mismatch between deployments is noticed.
func (t Topology) QueueArgs() amqp.Table {
	args := amqp.Table{
		amqp.QueueTypeArg:        amqp.QueueTypeQuorum,
		"x-dead-letter-exchange": t.DeadLetterExchange,
		"x-delivery-limit":       int64(t.deliveryLimit()),
		"x-dead-letter-strategy": "at-least-once", // needs reject-publish overflow
		amqp.QueueOverflowArg:    amqp.QueueOverflowRejectPublish,
	}
	if t.MaxLength > 0 {
		args[amqp.QueueMaxLenArg] = int64(t.MaxLength)
	}
	return args
}

// DeclareTopology declares the exchanges, queues and bindings on ch, whose
// user needs configure permission on all four names (the deploy-time admin,
// never the frontend). It is idempotent.
func DeclareTopology(ch *amqp.Channel, t Topology) error {
	if err := t.validate(); err != nil {
		return err
	}
	steps := []struct {
		what string
		do   func() error
	}{
		{"exchange " + t.Exchange, func() error {
			return ch.ExchangeDeclare(t.Exchange, amqp.ExchangeTopic, true, false, false, false, nil)
		}},
		{"exchange " + t.DeadLetterExchange, func() error {
			return ch.ExchangeDeclare(t.DeadLetterExchange, amqp.ExchangeFanout, true, false, false, false, nil)
		}},
		{"queue " + t.DeadLetterQueue, func() error {
			_, err := ch.QueueDeclare(t.DeadLetterQueue, true, false, false, false,
				amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum})
			return err
		}},
		{"binding " + t.DeadLetterQueue, func() error {
			return ch.QueueBind(t.DeadLetterQueue, "", t.DeadLetterExchange, false, nil)
		}},
		{"queue " + t.Queue, func() error {
			_, err := ch.QueueDeclare(t.Queue, true, false, false, false, t.QueueArgs())
			return err
		}},
		{"binding " + t.Queue, func() error {
			return ch.QueueBind(t.Queue, "#", t.Exchange, false, nil)
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("rabbitmq: declare %s: %w", s.what, err)
		}
	}
	return nil
}

// DeleteTopology removes what DeclareTopology made (tests clean up with it).
func DeleteTopology(ch *amqp.Channel, t Topology) error {
	var errs []error
	if _, err := ch.QueueDelete(t.Queue, false, false, false); err != nil {
		errs = append(errs, err)
	}
	if _, err := ch.QueueDelete(t.DeadLetterQueue, false, false, false); err != nil {
		errs = append(errs, err)
	}
	if err := ch.ExchangeDelete(t.Exchange, false, false); err != nil {
		errs = append(errs, err)
	}
	if err := ch.ExchangeDelete(t.DeadLetterExchange, false, false); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
