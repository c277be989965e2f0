package http_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/inproc"
	"github.com/purepool/purepool/events"
	pphttp "github.com/purepool/purepool/http"
)

// Addresses of the tests: pool addresses and miners on main and test.
var (
	mainPool  = biblepay.Networks["main"].Address([20]byte{1, 2, 3})
	testPool  = biblepay.Networks["test"].Address([20]byte{1, 2, 3})
	mainMiner = biblepay.Networks["main"].Address([20]byte{0xaa, 7})
	testMiner = biblepay.Networks["test"].Address([20]byte{0xbb, 7})
)

// memDirectory is an in-memory MinerDirectory.
type memDirectory struct {
	mu     sync.Mutex
	miners map[uuid.UUID]pphttp.Miner
	err    error
	panic  bool
}

func newMemDirectory() *memDirectory { return &memDirectory{miners: map[uuid.UUID]pphttp.Miner{}} }

func (d *memDirectory) Miner(_ context.Context, network, address string) (pphttp.Miner, bool, error) {
	id := events.MinerID(network, address)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.panic {
		panic("directory exploded")
	}
	if d.err != nil {
		return pphttp.Miner{}, false, d.err
	}
	m, ok := d.miners[id]
	return m, ok, nil
}

func (d *memDirectory) set(network, address string, m pphttp.Miner) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.miners[events.MinerID(network, address)] = m
}

// switchHealth is a Health whose networks can be marked down.
type switchHealth struct {
	mu   sync.Mutex
	down map[string]error
}

func (h *switchHealth) CanTakeWork(_ context.Context, network string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.down[network]
}

func (h *switchHealth) setDown(network string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down == nil {
		h.down = map[string]error{}
	}
	h.down[network] = err
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fixture is a frontend listening on a real port, publishing to an
// in-process bus.
type fixture struct {
	addr    string
	tlsAddr string
	bus     *inproc.Bus
	miners  *memDirectory
	health  *switchHealth
	server  *pphttp.Server
	logs    *syncBuffer
	stopped chan error
	stop    context.CancelFunc
}

type fixtureOption func(*fixtureSettings)

type fixtureSettings struct {
	cfg       pphttp.Config
	publisher commands.Publisher
	web       http.Handler
	cert      *tls.Certificate
	miners    pphttp.MinerDirectory
}

// newFixtureWith serves with another MinerDirectory.
func newFixtureWith(t testing.TB, d pphttp.MinerDirectory) *fixture {
	return newFixture(t, func(s *fixtureSettings) { s.miners = d })
}

func withTLS(cert tls.Certificate) fixtureOption {
	return func(s *fixtureSettings) { s.cert = &cert }
}

func withWeb(h http.Handler) fixtureOption {
	return func(s *fixtureSettings) { s.web = h }
}

func withConfig(f func(*pphttp.Config)) fixtureOption {
	return func(s *fixtureSettings) { f(&s.cfg) }
}

func withPublisher(p commands.Publisher) fixtureOption {
	return func(s *fixtureSettings) { s.publisher = p }
}

func testConfig() pphttp.Config {
	return pphttp.Config{
		Networks: map[string]pphttp.NetworkConfig{
			"main": {PoolAddress: mainPool},
			"test": {PoolAddress: testPool},
		},
		RateLimit: -1,
	}
}

// newAction builds the handler with the fixture's dependencies.
func newFixture(t testing.TB, opts ...fixtureOption) *fixture {
	t.Helper()
	f := &fixture{bus: inproc.New(), miners: newMemDirectory(), health: &switchHealth{}, logs: &syncBuffer{}}
	s := fixtureSettings{cfg: testConfig(), publisher: f.bus, miners: f.miners}
	for _, o := range opts {
		o(&s)
	}
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	action, err := pphttp.NewActionHandler(s.cfg, s.miners, f.health, s.publisher, log)
	if err != nil {
		t.Fatal(err)
	}
	f.server = &pphttp.Server{Action: action, Web: s.web, Logger: log, ShutdownTimeout: 5 * time.Second}
	addr, err := f.server.Listen("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.addr = addr.String()
	if s.cert != nil {
		addr, err := f.server.Listen("127.0.0.1:0", pphttp.TLSConfig(*s.cert))
		if err != nil {
			t.Fatal(err)
		}
		f.tlsAddr = addr.String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	f.stopped = make(chan error, 1)
	go func() { f.stopped <- f.server.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-f.stopped; err != nil {
			t.Errorf("server stopped with %v", err)
		}
	})
	return f
}

// published takes every command waiting on the bus.
func (f *fixture) published(t testing.TB) []commands.Command {
	t.Helper()
	var out []commands.Command
	if f.bus.Len() == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := f.bus.Consume(ctx, func(_ context.Context, m commands.Message) error {
		c, err := commands.Decode(m)
		if err != nil {
			t.Errorf("decode %s: %v", m.Name, err)
		}
		out = append(out, c)
		if f.bus.Len() == 0 {
			cancel()
		}
		return nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("consume: %v", err)
	}
	return out
}

// specHeader is the testnet share's header of spec §7.
const specHeader = "000000209928ce1b5ba829fde591237d3876df45daa2dd30ec31805b43dd6b972eae9aff3fab6ced6b34254aeb8c7f004cb82178984dbf22ea5c5316ac33ae6ec90ef17db3797b5aa5aa081d89370000"

// shareOf builds a valid solution of a miner for a work id: a block whose
// header carries the solution's time and nonce, followed by a coinbase.
func shareOf(t testing.TB, network, address string, workID uuid.UUID) biblepay.Solution {
	t.Helper()
	raw, err := hex.DecodeString(specHeader)
	if err != nil {
		t.Fatal(err)
	}
	h := biblepay.ParseHeader(raw)
	coinbase := "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff0502ad4b0101ffffffff0100e1f505000000001976a914" +
		strings.Repeat("ab", 20) + "88ac00000000"
	return biblepay.Solution{
		BlockHash:         "4adfaf0c3ad50afecad53ad1e57340e9735bca7d104b2b3565835a346e1c6c96",
		BlockTime:         int64(h.Time),
		PrevBlockTime:     1518041437,
		PrevHeight:        19309,
		BibleHash:         "0000000e5bced1fccc7110dfd386cf461b82852ce4eec5e124ca8f5e5bcc5a11",
		MinerID:           events.MinerID(network, address),
		WorkID:            workID,
		ThreadID:          0,
		ThreadHashCounter: 12000,
		ThreadStart:       1518041400000,
		HashCounter:       90000,
		TimerStart:        1518041000000,
		TimerEnd:          1518041523000,
		Nonce:             h.Nonce,
		BlockHex:          hex.EncodeToString(h.Bytes()) + "01" + coinbase,
		TransactionHex:    coinbase,
	}
}

// gatedPublisher holds every Publish until released.
type gatedPublisher struct {
	next    commands.Publisher
	entered chan struct{}
	release chan struct{}
}

func (g *gatedPublisher) Publish(ctx context.Context, m commands.Message) error {
	g.entered <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.next.Publish(ctx, m)
}

// selfSigned makes a certificate for pool.example.org.
func selfSigned(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "pool.example.org"},
		DNSNames:     []string{"pool.example.org"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// plainAnswer is an HTTP answer read to the end.
type plainAnswer struct {
	status int
	head   string
	body   string
}

// tryGet sends a bare GET and reads the answer until the server closes.
func tryGet(addr, path string) (plainAnswer, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return plainAnswer{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: pool.example.org\r\nConnection: close\r\n\r\n"); err != nil {
		return plainAnswer{}, err
	}
	raw, err := io.ReadAll(c)
	if err != nil {
		return plainAnswer{}, err
	}
	head, body, _ := strings.Cut(string(raw), "\r\n\r\n")
	var a plainAnswer
	a.head, a.body = head, body
	if f := strings.Fields(head); len(f) > 1 {
		a.status, _ = strconv.Atoi(f[1])
	}
	return a, nil
}

func timeAfter(ms int) <-chan time.Time { return time.After(time.Duration(ms) * time.Millisecond) }
