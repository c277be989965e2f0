package http

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
)

// Actions of the pool protocol, sent in the Action header.
const (
	ActionReadyToMine = "readytomine2"
	ActionSolution    = "solution"
)

// Bounds of the free-text headers, which end up in events and web pages.
const (
	maxAgentBytes  = 32
	maxOSBytes     = 16
	maxLoggedError = 1024
)

// ActionHandler answers /Action.aspx. Build it with NewActionHandler.
type ActionHandler struct {
	cfg       Config
	miners    MinerDirectory
	health    Health
	publisher commands.Publisher
	log       *slog.Logger
	now       func() time.Time
	newID     func() uuid.UUID
}

// NewActionHandler checks the configuration and the dependencies. A nil
// health means always healthy; a nil logger discards.
func NewActionHandler(cfg Config, miners MinerDirectory, health Health, publisher commands.Publisher, log *slog.Logger) (*ActionHandler, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if miners == nil {
		return nil, errors.New("http: nil MinerDirectory")
	}
	if publisher == nil {
		return nil, errors.New("http: nil Publisher")
	}
	if health == nil {
		health = AllHealthy()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ActionHandler{
		cfg: cfg, miners: miners, health: health, publisher: publisher, log: log,
		now: time.Now, newID: uuid.New,
	}, nil
}

// Config returns the configuration with its defaults filled in.
func (h *ActionHandler) Config() Config { return h.cfg }

// request is what every action needs from the wallet's headers.
type request struct {
	action   string
	network  string
	netCfg   NetworkConfig
	worker   biblepay.WorkerID
	minerID  uuid.UUID
	threadID int
	agent    string
	os       string
	remoteIP string // the client's address (behind a trusted proxy: from X-Forwarded-For)
	workID   string // the work answered or solved, for the log
}

func (h *ActionHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var (
		req  request
		body []byte
		err  error
	)
	req, err = h.parse(w, r)
	if err == nil {
		switch req.action {
		case ActionReadyToMine:
			body, err = h.readyToMine(r.Context(), &req)
		case ActionSolution:
			body, err = h.solution(r.Context(), &req, r)
		}
	}
	if err != nil {
		body = ErrorAnswer(errorMessage(err))
	}
	writeAnswer(w, body)
	h.logRequest(r, req, err, start)
}

// logRequest logs a request: refusals at Info (Warn when the pool is at
// fault), answered work and shares at Debug only, since their commands
// become events, the durable record of them.
func (h *ActionHandler) logRequest(r *http.Request, req request, err error, start time.Time) {
	level := slog.LevelDebug
	var msg string
	gone := false
	if err != nil {
		level = slog.LevelInfo
		msg = errorMessage(err)
		switch {
		case errors.Is(r.Context().Err(), context.Canceled) && errors.Is(err, context.Canceled):
			// The wallet hung up while the pool was answering: nobody's
			// fault, and no health failure of the pool.
			level, gone = slog.LevelDebug, true
		case msg == MsgInternal || msg == MsgHealthDown:
			level = slog.LevelWarn // the pool is at fault, not the miner
		}
	}
	if !h.log.Enabled(r.Context(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", RequestID(r.Context())),
		slog.String("remote", req.remoteIP),
		slog.String("action", sanitize(r.Header.Get("Action"), maxEchoBytes)),
		slog.String("network", req.network),
		slog.String("address", req.worker.Address),
		slog.String("worker", req.worker.Worker),
		slog.String("work_id", req.workID),
		slog.Duration("duration", time.Since(start)),
	}
	if peer := remoteIP(r); peer != req.remoteIP {
		attrs = append(attrs, slog.String("proxy", peer)) // the trusted proxy it came through
	}
	switch {
	case gone:
		attrs = append(attrs, slog.String("answer", "none: the client went away"))
	case err != nil:
		// The cause may quote the miner's input: bounded like an answer.
		attrs = append(attrs, slog.String("answer", msg), slog.String("error", sanitize(err.Error(), maxLoggedError)))
	default:
		attrs = append(attrs, slog.String("answer", "ok"))
	}
	h.log.LogAttrs(r.Context(), level, "pool request", attrs...)
}

// header returns the single value of a header given in canonical form;
// repeating a protocol header is refused.
func header(r *http.Request, canonical, name string) (string, error) {
	v := r.Header[canonical]
	switch len(v) {
	case 0:
		return "", nil
	case 1:
		return v[0], nil
	}
	return "", refuse(nil, MsgInvalidHeader, name)
}

// parse checks the headers common to both actions, in the order the
// earlier pools did: action, network, worker id.
func (h *ActionHandler) parse(w http.ResponseWriter, r *http.Request) (request, error) {
	var req request
	req.remoteIP = trustedProxies(h.cfg.TrustedProxies).clientIP(r)
	if size := headerSize(r); size > h.cfg.MaxHeaderBytes {
		return req, refuse(fmt.Errorf("%d header bytes, limit %d", size, h.cfg.MaxHeaderBytes), MsgRequestTooLarge)
	}
	// The body is the action name again; it is bounded and otherwise ignored.
	if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes)); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return req, refuse(err, MsgRequestTooLarge)
		}
		return req, refuse(err, MsgBadRequest)
	}
	action, err := header(r, "Action", "Action")
	if err != nil {
		return req, err
	}
	switch action {
	case ActionReadyToMine, ActionSolution:
		req.action = action
	case "":
		return req, refuse(nil, MsgUnknownAction, emptyAction)
	default:
		return req, refuse(nil, MsgUnknownAction, action)
	}

	network, err := header(r, "Networkid", "NetworkID")
	if err != nil {
		return req, err
	}
	nc, ok := h.cfg.Networks[network]
	if !ok {
		return req, refuse(fmt.Errorf("network %q", sanitize(network, maxEchoBytes)), MsgInvalidNetwork)
	}
	req.network, req.netCfg = network, nc

	miner, err := header(r, "Miner", "Miner")
	if err != nil {
		return req, err
	}
	wid, err := biblepay.ParseWorkerID(miner)
	if errors.Is(err, biblepay.ErrWorkerIDMissing) {
		return req, refuse(err, MsgWorkerIDMissing)
	}
	if err != nil {
		return req, refuse(err, MsgWorkerIDInvalid, miner)
	}
	if err := biblepay.Networks[network].ValidateAddress(wid.Address); err != nil {
		return req, refuse(err, MsgWorkerIDInvalid, miner)
	}
	req.worker = wid
	req.minerID = events.MinerID(network, wid.Address)

	thread, err := header(r, "Threadid", "ThreadID")
	if err != nil {
		return req, err
	}
	if thread != "" { // every wallet sends it; a client without threads is thread 0
		n, err := strconv.Atoi(thread)
		if err != nil || n < 0 || n > biblepay.MaxThreadID || strconv.Itoa(n) != thread {
			return req, refuse(err, MsgThreadIDInvalid, thread)
		}
		req.threadID = n
	}
	if req.agent, err = freeText(r, "Agent", "Agent", maxAgentBytes); err != nil {
		return req, err
	}
	if req.os, err = freeText(r, "Os", "OS", maxOSBytes); err != nil {
		return req, err
	}
	return req, nil
}

// freeText reads a short informative header (Agent, OS): optional, printable
// ASCII without markup, bounded.
func freeText(r *http.Request, canonical, name string, max int) (string, error) {
	v, err := header(r, canonical, name)
	if err != nil {
		return "", err
	}
	if len(v) > max || sanitize(v, max) != v {
		return "", refuse(nil, MsgInvalidHeader, name)
	}
	return v, nil
}

// minerByID is a MinerDirectory that looks miners up by the id the
// handler already derived (Directory).
type minerByID interface {
	MinerByID(ctx context.Context, id uuid.UUID) (Miner, bool, error)
}

// readyToMine hands out work: the pool address, the miner's target, its
// deterministic id and a fresh work id, once the IssueWork command that
// records the work is confirmed.
func (h *ActionHandler) readyToMine(ctx context.Context, req *request) ([]byte, error) {
	if err := h.health.CanTakeWork(ctx, req.network); err != nil {
		return nil, &Error{Message: MsgHealthDown, Err: err}
	}
	var (
		m     Miner
		found bool
		err   error
	)
	if byID, ok := h.miners.(minerByID); ok {
		m, found, err = byID.MinerByID(ctx, req.minerID)
	} else {
		m, found, err = h.miners.Miner(ctx, req.network, req.worker.Address)
	}
	if err != nil {
		// Without the read model the pool cannot tell a disabled miner;
		// wallets mine solo until it is back.
		return nil, &Error{Message: MsgHealthDown, Err: fmt.Errorf("miner directory: %w", err)}
	}
	if found && m.Disabled {
		return nil, refuse(nil, MsgMinerDisabled, req.worker.Address)
	}
	target := req.netCfg.DefaultTarget
	if found && m.Target != "" {
		if _, err := biblepay.ParseHash(m.Target); err != nil {
			return nil, &Error{Message: MsgInternal, Err: fmt.Errorf("target of miner %s: %w", req.minerID, err)}
		}
		target = strings.ToLower(m.Target)
	}
	workID := h.newID()
	req.workID = workID.String()
	cmd := commands.IssueWork{
		ID:       h.newID(),
		Network:  req.network,
		MinerID:  req.minerID,
		Address:  req.worker.Address,
		Worker:   req.worker.Worker,
		WorkID:   workID,
		Target:   target,
		ThreadID: req.threadID,
		Agent:    req.agent,
		OS:       req.os,
		RemoteIP: req.remoteIP,
		IssuedAt: h.now().UTC(),
	}
	if err := h.publish(ctx, cmd); err != nil {
		return nil, err
	}
	return WorkAnswer(req.netCfg.PoolAddress, target, req.minerID.String(), workID.String()), nil
}

// solution checks a share strictly, publishes it and acknowledges it only
// once the publisher confirmed the command. The share's worth is decided by
// the backend.
func (h *ActionHandler) solution(ctx context.Context, req *request, r *http.Request) ([]byte, error) {
	s, err := header(r, "Solution", "Solution")
	if err != nil {
		return nil, err
	}
	if s == "" {
		return nil, refuse(nil, MsgSolutionMissing)
	}
	sol, err := biblepay.ParseSolution(s, h.cfg.MaxHeaderBytes)
	if err != nil {
		detail := strings.TrimPrefix(err.Error(), biblepay.ErrMalformedSolution.Error()+": ")
		return nil, &Error{Message: fmt.Sprintf(MsgInvalidSolution, sanitize(detail, maxSolutionErrBytes)), Err: err}
	}
	req.workID = sol.WorkID.String()
	if sol.MinerID != req.minerID {
		return nil, &Error{Message: fmt.Sprintf(MsgInvalidSolution,
			fmt.Sprintf("field 5 (miner guid) %s is not the miner id of %s on %s", sol.MinerID, req.worker.Address, req.network))}
	}
	if err := h.health.CanTakeWork(ctx, req.network); err != nil {
		return nil, &Error{Message: MsgHealthDown, Err: err}
	}
	cmd := commands.SubmitSolution{
		ID:         h.newID(),
		Network:    req.network,
		MinerID:    req.minerID,
		Address:    req.worker.Address,
		Worker:     req.worker.Worker,
		Solution:   s,
		ThreadID:   req.threadID,
		Agent:      req.agent,
		OS:         req.os,
		RemoteIP:   req.remoteIP,
		ReceivedAt: h.now().UTC(),
	}
	if err := h.publish(ctx, cmd); err != nil {
		return nil, err
	}
	return SolutionAnswer(sol.WorkID.String()), nil
}

// publish sends a command and waits for the confirmation. The wait does not
// end when the miner hangs up: a command half-sent is better confirmed.
func (h *ActionHandler) publish(ctx context.Context, c commands.Command) error {
	msg, err := commands.Encode(c)
	if err != nil {
		return &Error{Message: MsgInternal, Err: err}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.PublishTimeout)
	defer cancel()
	if err := h.publisher.Publish(ctx, msg); err != nil {
		return &Error{Message: MsgHealthDown, Err: fmt.Errorf("publish %s %s: %w", msg.Name, msg.ID, err)}
	}
	return nil
}

// headerSize is the size of the request line and header block as sent.
func headerSize(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4
	if r.Host != "" && r.Header["Host"] == nil {
		n += len("Host: \r\n") + len(r.Host)
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n + 2
}

// remoteIP is the TCP peer's address without the port.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
