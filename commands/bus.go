// Package commands holds what the frontend and admins ask the backend to do:
// the commands as plain structs with stable names, and the command-bus port
// that carries them (implemented by commands/rabbitmq and commands/inproc).
package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// Message is a command on the bus.
type Message struct {
	ID   uuid.UUID       // the command id; also the broker's message id
	Name string          // the command's stable name (Command.CommandName)
	Body json.RawMessage // the command as JSON
	// Redelivered counts earlier deliveries of the same message when the
	// transport knows it (0 on the first delivery).
	Redelivered int
}

// Publisher sends commands. Publish returns nil only once the command is
// safely accepted (for RabbitMQ: confirmed by the broker, routed to a queue
// and persistent); any doubt is an error, so a caller that answered a miner
// "ok" never loses the command.
type Publisher interface {
	Publish(ctx context.Context, msg Message) error
}

// BatchPublisher publishes several commands at once. Each is delivered as
// its own message (own id, own handling, own dead letter); nil means every
// one is safely accepted, as for Publish, and an error that some may be.
// commands/rabbitmq sends them in as few broker messages as its batch size
// allows (its Publish batches concurrent calls by itself too).
type BatchPublisher interface {
	PublishBatch(ctx context.Context, msgs []Message) error
}

// Handler handles one delivered command. Returning nil acknowledges the
// message, and must only happen once the handler's events are stored. Any
// other error leads to redelivery, except a Permanent one, which sends the
// message to the dead-letter place with the error as its reason.
type Handler func(ctx context.Context, msg Message) error

// SafeCall runs h, turning a panic into an error: a consumer then treats it
// like any failed handling (redelivery, then the dead-letter place)
// instead of dying with every unacknowledged message.
func SafeCall(ctx context.Context, h Handler, msg Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return h(ctx, msg)
}

// DefaultDeliveryLimit is how many times a consumer delivers a message
// before it dead-letters it, when not configured.
const DefaultDeliveryLimit = 5

// Consumer delivers commands to a handler until ctx ends.
type Consumer interface {
	Consume(ctx context.Context, h Handler) error
}

// PermanentError marks a message that can never be handled.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err so that the consumer dead-letters the message instead
// of redelivering it.
func Permanent(err error) error { return &PermanentError{Err: err} }

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// Command is implemented by every command struct.
type Command interface {
	CommandName() string
	CommandID() uuid.UUID
}

// Encode turns a command into a bus message.
func Encode(c Command) (Message, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return Message{}, fmt.Errorf("commands: encode %s: %w", c.CommandName(), err)
	}
	return Message{ID: c.CommandID(), Name: c.CommandName(), Body: body}, nil
}

// ErrUnknownCommand is returned by Decode for a name outside the catalogue.
var ErrUnknownCommand = errors.New("commands: unknown command")

// Decode returns the command struct (a value) carried by a message. An
// unknown name or a body that does not decode can never be handled: the
// error is Permanent.
func Decode(m Message) (Command, error) {
	var c Command
	var err error
	switch m.Name {
	case NameIssueWork:
		c, err = decodeAs[IssueWork](m.Body)
	case NameSubmitSolution:
		c, err = decodeAs[SubmitSolution](m.Body)
	case NameDisableMiner:
		c, err = decodeAs[DisableMiner](m.Body)
	case NameEnableMiner:
		c, err = decodeAs[EnableMiner](m.Body)
	case NamePausePayouts:
		c, err = decodeAs[PausePayouts](m.Body)
	case NameResumePayouts:
		c, err = decodeAs[ResumePayouts](m.Body)
	case NameTriggerPayout:
		c, err = decodeAs[TriggerPayout](m.Body)
	case NameReconcilePayout:
		c, err = decodeAs[ReconcilePayout](m.Body)
	case NameCorrectPayout:
		c, err = decodeAs[CorrectPayout](m.Body)
	case NameAdoptWalletPayout:
		c, err = decodeAs[AdoptWalletPayout](m.Body)
	default:
		return nil, Permanent(fmt.Errorf("%w %q", ErrUnknownCommand, m.Name))
	}
	if err != nil {
		return nil, Permanent(fmt.Errorf("commands: decode %s %s: %w", m.Name, m.ID, err))
	}
	if c.CommandID() != m.ID {
		return nil, Permanent(fmt.Errorf("commands: %s: message id %s differs from command id %s", m.Name, m.ID, c.CommandID()))
	}
	return c, nil
}

func decodeAs[T Command](body json.RawMessage) (Command, error) {
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, err
	}
	return v, nil
}
