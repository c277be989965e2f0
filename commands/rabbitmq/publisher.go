package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/commands"
)

// Errors a Publish can return. Every error means "not known to be safely
// queued": the caller must not tell the miner the command was accepted.
var (
	// ErrNotConnected: the publisher is between connections; Publish fails
	// at once instead of making an HTTP handler wait for a reconnect.
	ErrNotConnected = errors.New("rabbitmq: not connected to the broker")
	// ErrUnroutable: the broker returned the message (mandatory) because no
	// queue is bound to the exchange for its routing key.
	ErrUnroutable = errors.New("rabbitmq: message unroutable")
	// ErrNacked: the broker refused the message (e.g. the queue is full and
	// rejects publishes).
	ErrNacked = errors.New("rabbitmq: message nacked by the broker")
	// ErrConfirmLost: the channel or connection closed before the broker
	// confirmed; the message may or may not be queued.
	ErrConfirmLost = errors.New("rabbitmq: channel or connection closed before the broker confirmed")
	// ErrClosed: Publish after Close.
	ErrClosed = errors.New("rabbitmq: publisher closed")
)

// Publisher publishes commands to the commands exchange in confirm mode.
// It is safe for concurrent use, keeps its connection up by itself, and
// never declares topology (the frontend's user may not).
type Publisher struct {
	cfg Config

	mu      sync.RWMutex
	chans   []*pubChannel // nil while disconnected
	lastErr error
	ready   chan struct{} // closed and replaced on every connect

	next   atomic.Uint64
	batch  *batcher // nil with BatchSize 1
	cancel context.CancelFunc
	done   chan struct{}
}

// NewPublisher starts a publisher that connects (and reconnects) in the
// background; it never fails for a broker that is down. Publish fails fast
// with ErrNotConnected until a connection is up; WaitReady waits for one.
func NewPublisher(cfg Config) (*Publisher, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Topology.validate(); err != nil {
		return nil, err
	}
	if _, err := parseURLs(cfg.URL); err != nil {
		return nil, fmt.Errorf("rabbitmq: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Publisher{
		cfg:     cfg,
		lastErr: errors.New("not connected yet"),
		ready:   make(chan struct{}),
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	if cfg.batchSize() > 1 {
		p.batch = newBatcher(ctx, p)
	}
	go p.run(ctx)
	return p, nil
}

// Connected reports whether a connection is up right now (a health check:
// while it is false, Publish fails fast with ErrNotConnected).
func (p *Publisher) Connected() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.chans != nil
}

// WaitReady waits until the publisher is connected or ctx ends.
func (p *Publisher) WaitReady(ctx context.Context) error {
	for {
		p.mu.RLock()
		up, ready, lastErr := p.chans != nil, p.ready, p.lastErr
		p.mu.RUnlock()
		if up {
			return nil
		}
		select {
		case <-ready:
		case <-p.done:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("rabbitmq: waiting for a connection: %w (last error: %v)", ctx.Err(), lastErr)
		}
	}
}

// Ready reports, without waiting, whether the publisher is connected now:
// nil, or why not (a frontend answers HEALTH_DOWN meanwhile).
func (p *Publisher) Ready() error {
	p.mu.RLock()
	up, lastErr := p.chans != nil, p.lastErr
	p.mu.RUnlock()
	select {
	case <-p.done:
		return ErrClosed
	default:
	}
	if up {
		return nil
	}
	return fmt.Errorf("rabbitmq: not connected (last error: %v)", lastErr)
}

// Close stops reconnecting and closes the connection; publishes waiting for
// a confirm fail with ErrConfirmLost.
func (p *Publisher) Close() error {
	p.cancel()
	<-p.done
	if p.batch != nil {
		<-p.batch.done
	}
	return nil
}

// run owns the connection: connect, wait for it to close, back off, again.
func (p *Publisher) run(ctx context.Context) {
	defer close(p.done)
	b := backoff{min: p.cfg.ReconnectMin, max: p.cfg.ReconnectMax}
	log := p.cfg.Logger.With("component", "rabbitmq.publisher", "conn", p.cfg.Name)
	for {
		conn, chans, err := p.connect()
		if err != nil {
			p.setDown(err)
			log.Warn("connect failed", "err", err)
			if b.wait(ctx) != nil {
				return
			}
			continue
		}
		closed := conn.NotifyClose(make(chan *amqp.Error, 1))
		p.setUp(chans)
		log.Info("connected", "channels", len(chans))
		select {
		case <-ctx.Done():
			p.setDown(ErrClosed)
			_ = conn.Close()
			return
		case e := <-closed:
			err := fmt.Errorf("connection closed: %v", e)
			if e == nil {
				err = errors.New("connection closed")
			}
			p.setDown(err)
			_ = conn.Close()
			log.Warn("connection lost; reconnecting", "err", err)
			b.reset() // the first retry after a loss is quick
			if b.wait(ctx) != nil {
				return
			}
		}
	}
}

func (p *Publisher) connect() (*amqp.Connection, []*pubChannel, error) {
	conn, err := p.cfg.dial()
	if err != nil {
		return nil, nil, err
	}
	chans := make([]*pubChannel, p.cfg.Channels)
	for i := range chans {
		pc := &pubChannel{conn: conn, maxInFlight: p.cfg.MaxInFlight}
		if err := pc.open(); err != nil {
			_ = conn.Close()
			return nil, nil, err
		}
		chans[i] = pc
	}
	return conn, chans, nil
}

func (p *Publisher) setUp(chans []*pubChannel) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.chans, p.lastErr = chans, nil
	close(p.ready)
	p.ready = make(chan struct{})
}

func (p *Publisher) setDown(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.chans, p.lastErr = nil, err
}

// Publish sends msg to the commands exchange with the command name as
// routing key, persistent, mandatory, and waits for the broker's confirm.
// It returns nil only if the broker acked the message and did not return
// it as unroutable. With BatchSize above 1 the command may travel in a
// batch with others (batch.go); nil then means that the batch's message was
// confirmed and not returned, and any doubt about it fails every Publish
// in it.
func (p *Publisher) Publish(ctx context.Context, msg commands.Message) error {
	if msg.Name == "" {
		return errors.New("rabbitmq: publish: message has no command name")
	}
	p.mu.RLock()
	up, lastErr := p.chans != nil, p.lastErr
	p.mu.RUnlock()
	if !up {
		return fmt.Errorf("%w: %v", ErrNotConnected, lastErr)
	}
	if p.batch == nil {
		return p.publishSingle(ctx, msg)
	}
	return p.batch.publish(ctx, msg)
}

// PublishBatch publishes msgs in as few broker messages as BatchSize allows
// (one per command name and BatchSize commands), each confirmed like a
// Publish. It returns nil only if every message was confirmed and routed; on
// an error, some of the commands may have been queued.
func (p *Publisher) PublishBatch(ctx context.Context, msgs []commands.Message) error {
	for _, m := range msgs {
		if m.Name == "" {
			return errors.New("rabbitmq: publish batch: a message has no command name")
		}
	}
	p.mu.RLock()
	up, lastErr := p.chans != nil, p.lastErr
	p.mu.RUnlock()
	if !up {
		return fmt.Errorf("%w: %v", ErrNotConnected, lastErr)
	}
	var errs []error
	for _, group := range groupForBatches(msgs, p.cfg.batchSize()) {
		entries := make([][]byte, len(group))
		for i, m := range group {
			entries[i] = encodeEntry(m)
		}
		if err := p.publishGroup(ctx, group, entries); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// groupForBatches splits msgs by name (keeping their order) into groups of
// at most size commands and maxBatchBytes of body.
func groupForBatches(msgs []commands.Message, size int) [][]commands.Message {
	var out [][]commands.Message
	open := map[string]int{} // name -> index in out of its open group
	body := map[string]int{} // name -> body bytes of its open group
	for _, m := range msgs {
		i, ok := open[m.Name]
		if !ok || len(out[i]) >= size || body[m.Name]+len(m.Body) > maxBatchBytes {
			out = append(out, nil)
			i = len(out) - 1
			open[m.Name], body[m.Name] = i, 0
		}
		out[i] = append(out[i], m)
		body[m.Name] += len(m.Body)
	}
	return out
}

// publishGroup publishes commands of one name as one broker message: a
// plain message for one command, a batch for more.
func (p *Publisher) publishGroup(ctx context.Context, msgs []commands.Message, entries [][]byte) error {
	if len(msgs) == 1 {
		return p.publishSingle(ctx, msgs[0])
	}
	id := uuid.New()
	name := msgs[0].Name
	pub := amqp.Publishing{
		Headers:      amqp.Table{HeaderBatch: int64(len(msgs))},
		ContentType:  BatchContentType,
		DeliveryMode: amqp.Persistent,
		MessageId:    id.String(),
		Type:         BatchType,
		Timestamp:    time.Now().UTC(),
		Body:         encodeBatch(entries),
	}
	if err := p.publishOn(ctx, name, pub); err != nil {
		return fmt.Errorf("rabbitmq: publish a batch of %d %s (batch %s, first %s): %w", len(msgs), name, id, msgs[0].ID, err)
	}
	return nil
}

// publishSingle publishes one command as its own broker message.
func (p *Publisher) publishSingle(ctx context.Context, msg commands.Message) error {
	pub := amqp.Publishing{
		ContentType:  "application/json",
		DeliveryMode: amqp.Persistent,
		MessageId:    msg.ID.String(),
		Type:         msg.Name,
		Timestamp:    time.Now().UTC(),
		Body:         msg.Body,
	}
	if err := p.publishOn(ctx, msg.Name, pub); err != nil {
		return fmt.Errorf("rabbitmq: publish %s %s: %w", msg.Name, msg.ID, err)
	}
	return nil
}

// publishOn publishes pub on one of the channels and waits for the
// outcome.
func (p *Publisher) publishOn(ctx context.Context, key string, pub amqp.Publishing) error {
	p.mu.RLock()
	chans, lastErr := p.chans, p.lastErr
	p.mu.RUnlock()
	if chans == nil {
		return fmt.Errorf("%w: %v", ErrNotConnected, lastErr)
	}
	// Round robin; a channel being reopened after a channel-level error is
	// skipped.
	start := p.next.Add(1)
	for i := range uint64(len(chans)) {
		st := chans[(start+i)%uint64(len(chans))].state.Load()
		if st == nil || st.ch.IsClosed() {
			continue
		}
		return st.publish(ctx, p.cfg.Topology.Exchange, key, pub)
	}
	return fmt.Errorf("%w: no open channel", ErrNotConnected)
}

// pubChannel is one confirm-mode channel; it is reopened on the same
// connection if the broker closes it (e.g. after publishing to a missing
// exchange).
type pubChannel struct {
	conn        *amqp.Connection
	maxInFlight int
	state       atomic.Pointer[chanState]
}

// chanState is everything that belongs to one incarnation of a channel.
type chanState struct {
	ch *amqp.Channel
	// slots bounds unconfirmed publishes, so that returns can never fill
	// the returns buffer (its capacity is the same) and make the client
	// library drop one.
	slots   chan struct{}
	returns chan amqp.Return
	closed  chan *amqp.Error
	// gone is closed once the channel's close error (if any) is recorded.
	gone chan struct{}

	mu       sync.Mutex
	returned map[string]string // MessageId -> reply text, returned but not yet claimed
	closeErr error
}

func (pc *pubChannel) open() error {
	ch, err := pc.conn.Channel()
	if err != nil {
		return fmt.Errorf("rabbitmq: open channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("rabbitmq: confirm mode: %w", err)
	}
	st := &chanState{
		ch:       ch,
		slots:    make(chan struct{}, pc.maxInFlight),
		returns:  ch.NotifyReturn(make(chan amqp.Return, pc.maxInFlight)),
		closed:   ch.NotifyClose(make(chan *amqp.Error, 1)),
		gone:     make(chan struct{}),
		returned: map[string]string{},
	}
	pc.state.Store(st)
	go pc.watch(st)
	return nil
}

// watch reopens the channel after a channel-level close while the
// connection lives on.
func (pc *pubChannel) watch(st *chanState) {
	e, ok := <-st.closed
	st.mu.Lock()
	if ok && e != nil {
		st.closeErr = e
	}
	st.mu.Unlock()
	close(st.gone)
	if pc.conn.IsClosed() {
		return
	}
	for range 3 {
		if err := pc.open(); err == nil || pc.conn.IsClosed() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Give up on this connection: the publisher's run loop reconnects.
	_ = pc.conn.Close()
}

func (st *chanState) publish(ctx context.Context, exchange, key string, pub amqp.Publishing) error {
	select {
	case st.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	dc, err := st.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false, pub)
	if err != nil {
		<-st.slots
		if st.ch.IsClosed() && ctx.Err() == nil {
			// The connection went down under us; the run loop is about to
			// notice. Say so the same way as when it has.
			return fmt.Errorf("%w: %w", ErrNotConnected, err)
		}
		return err
	}
	select {
	case <-dc.Done():
	case <-ctx.Done():
		// Keep the slot until the outcome is known, and claim any return,
		// so neither the slots nor the returned map leak.
		go func() {
			<-dc.Done()
			st.claimReturn(pub.MessageId)
			<-st.slots
		}()
		return fmt.Errorf("waiting for the broker's confirm: %w", ctx.Err())
	}
	defer func() { <-st.slots }()
	// The library hands a basic.return to st.returns before it resolves
	// the confirm that follows it on the wire, so once dc is done a return
	// for this message is already in the buffer (or the map).
	reason, returned := st.claimReturn(pub.MessageId)
	switch {
	case !dc.Acked():
		if st.ch.IsClosed() {
			// The library queues the close reason before it fails the
			// pending confirms; wait for watch to record it.
			select {
			case <-st.gone:
			case <-time.After(time.Second):
			}
		}
		st.mu.Lock()
		closeErr := st.closeErr
		st.mu.Unlock()
		if closeErr != nil {
			return fmt.Errorf("%w: %w", ErrConfirmLost, closeErr)
		}
		if st.ch.IsClosed() {
			return fmt.Errorf("%w: channel closed", ErrConfirmLost)
		}
		// A channel that first published to a quorum queue while it had no
		// leader (a cluster node just died) can nack every later publish
		// (RabbitMQ 3.10, internal/resilience TestPrivateRabbitMQCluster*):
		// reopen it (watch does) so the next publishes start clean. For a
		// full queue this only costs a reopen.
		_ = st.ch.Close()
		return ErrNacked
	case returned:
		return fmt.Errorf("%w: %s (exchange %q, routing key %q)", ErrUnroutable, reason, exchange, key)
	}
	return nil
}

// claimReturn moves buffered returns into the map and takes the one for id.
func (st *chanState) claimReturn(id string) (string, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for {
		select {
		case r, ok := <-st.returns:
			if ok {
				st.returned[r.MessageId] = fmt.Sprintf("%d %s", r.ReplyCode, r.ReplyText)
				continue
			}
		default:
		}
		break
	}
	reason, ok := st.returned[id]
	delete(st.returned, id)
	return reason, ok
}

var (
	_ commands.Publisher      = (*Publisher)(nil)
	_ commands.BatchPublisher = (*Publisher)(nil)
)
