package biblepay

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultWorker is the worker name of a workerid without one.
const DefaultWorker = "Default"

// MaxWorkerName bounds worker names, which end up in events and web pages.
const MaxWorkerName = 64

// WorkerID is the parsed `workerid=` setting: address[/worker[/email]].
type WorkerID struct {
	Address string
	Worker  string
	Email   string // parsed and ignored, as Purepool did
}

// ErrWorkerIDMissing is returned for an empty Miner header.
var ErrWorkerIDMissing = errors.New("WorkerID is missing")

// ParseWorkerID splits the wallet's Miner header. It checks the shape only;
// the address itself is checked against a network with ValidateAddress.
func ParseWorkerID(s string) (WorkerID, error) {
	if s == "" {
		return WorkerID{}, ErrWorkerIDMissing
	}
	parts := strings.SplitN(s, "/", 3)
	w := WorkerID{Address: parts[0], Worker: DefaultWorker}
	if w.Address == "" {
		return WorkerID{}, fmt.Errorf("%w: empty address", ErrInvalidAddress)
	}
	if len(parts) > 1 && parts[1] != "" {
		w.Worker = parts[1]
	}
	if len(parts) > 2 {
		w.Email = parts[2]
	}
	if len(w.Worker) > MaxWorkerName {
		return WorkerID{}, fmt.Errorf("worker name longer than %d bytes", MaxWorkerName)
	}
	// Worker names are stored in events (JSON) and shown on web pages: bytes
	// that are not UTF-8 would come back changed, so they are refused.
	if !utf8.ValidString(w.Worker) {
		return WorkerID{}, errors.New("worker name is not valid UTF-8")
	}
	for _, r := range w.Worker {
		if !unicode.IsPrint(r) || r == '<' || r == '>' {
			return WorkerID{}, fmt.Errorf("worker name contains %q", r)
		}
	}
	return w, nil
}

// String formats the worker id as the wallet's workerid setting.
func (w WorkerID) String() string {
	if w.Worker == "" || w.Worker == DefaultWorker {
		return w.Address
	}
	return w.Address + "/" + w.Worker
}
