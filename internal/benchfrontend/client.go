package benchfrontend

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/simminer"
)

// The bench's network, pool and miner.
const network = "main"

var (
	poolAddress  = biblepay.Networks[network].Address([20]byte{1, 2, 3})
	minerAddress = biblepay.Networks[network].Address([20]byte{0xaa, 7})
	minerTarget  = "00000fffff000000000000000000000000000000000000000000000000000000"
	benchWorkID  = uuid.MustParse("0b9f6e0a-3f1e-4c55-9d2f-4f0c1d2e3a4b")
)

// specHeader is the testnet share's header of the protocol spec (§7).
const specHeader = "000000209928ce1b5ba829fde591237d3876df45daa2dd30ec31805b43dd6b972eae9aff3fab6ced6b34254aeb8c7f004cb82178984dbf22ea5c5316ac33ae6ec90ef17db3797b5aa5aa081d89370000"

// share is a well-formed solution of the bench miner: the frontend checks
// its form and publishes it; whether it is worth anything is the backend's
// business, which is not part of this benchmark.
func share() string {
	raw, _ := hex.DecodeString(specHeader)
	h := biblepay.ParseHeader(raw)
	coinbase := "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff0502ad4b0101ffffffff0100e1f505000000001976a914" +
		strings.Repeat("ab", 20) + "88ac00000000"
	return biblepay.Solution{
		BlockHash:         "4adfaf0c3ad50afecad53ad1e57340e9735bca7d104b2b3565835a346e1c6c96",
		BlockTime:         int64(h.Time),
		PrevBlockTime:     1518041437,
		PrevHeight:        19309,
		BibleHash:         "0000000e5bced1fccc7110dfd386cf461b82852ce4eec5e124ca8f5e5bcc5a11",
		MinerID:           events.MinerID(network, minerAddress),
		WorkID:            benchWorkID,
		ThreadHashCounter: 12000,
		ThreadStart:       1518041400000,
		HashCounter:       90000,
		TimerStart:        1518041000000,
		TimerEnd:          1518041523000,
		Nonce:             h.Nonce,
		BlockHex:          hex.EncodeToString(h.Bytes()) + "01" + coinbase,
		TransactionHex:    coinbase,
	}.String()
}

// walletRequest is the request exactly as the wallet writes it
// (simminer.Request), plus Connection: close as wrk sends it: every request
// is a connection of its own, as the wallet's are.
func walletRequest(action string) []byte {
	sol := ""
	if action == "solution" {
		sol = share()
	}
	b := simminer.Request{Host: "pool.example.org", Version: "1.6.4.1", Action: action, Miner: minerAddress + "/bench",
		NetworkID: network, OS: "LIN", Solution: sol}.Bytes()
	i := bytes.Index(b, []byte("\r\n")) + 2
	return append(append(append([]byte{}, b[:i]...), "Connection: close\r\n"...), b[i:]...)
}

// ClientSpec is one load round: Conns connections in parallel, each sending
// Request, reading the answer until the server closes, then the next.
type ClientSpec struct {
	Addr    string
	Request []byte
	Conns   int
	For     time.Duration
}

// ClientResult is what a round measured.
type ClientResult struct {
	N         int64
	Errors    int64
	FirstErr  string
	Took      time.Duration
	Latencies []time.Duration
}

// EnvClient carries a ClientSpec (JSON) to a child process running RunClient.
const EnvClient = "PUREPOOL_BENCH_CLIENT"

// RunClient is the load client's process: it reads the spec from
// EnvClient, runs the round and prints the result as JSON on out.
func RunClient(out io.Writer) error {
	var spec ClientSpec
	if err := json.Unmarshal([]byte(os.Getenv(EnvClient)), &spec); err != nil {
		return fmt.Errorf("benchfrontend: client spec: %w", err)
	}
	return json.NewEncoder(out).Encode(load(spec))
}

// loadIn runs a round in a child process (argv), so that this process's CPU
// time is the servers' alone; with no argv, here.
func loadIn(ctx context.Context, argv []string, spec ClientSpec) (ClientResult, error) {
	if len(argv) == 0 {
		return load(spec), nil
	}
	j, err := json.Marshal(spec)
	if err != nil {
		return ClientResult{}, err
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), EnvClient+"="+string(j))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return ClientResult{}, fmt.Errorf("benchfrontend: load client: %w: %s", err, stderr.Bytes())
	}
	var res ClientResult
	if err := json.Unmarshal(out, &res); err != nil {
		return ClientResult{}, fmt.Errorf("benchfrontend: load client output: %w", err)
	}
	return res, nil
}

func load(spec ClientSpec) ClientResult {
	var count, failed atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	var res ClientResult
	start := time.Now()
	deadline := start.Add(spec.For)
	for range spec.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			local := make([]time.Duration, 0, 4096)
			var firstErr error
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if err := oneRequest(spec.Addr, spec.Request, buf); err != nil {
					failed.Add(1)
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				local = append(local, time.Since(t0))
				count.Add(1)
			}
			mu.Lock()
			res.Latencies = append(res.Latencies, local...)
			if firstErr != nil && res.FirstErr == "" {
				res.FirstErr = firstErr.Error()
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.N, res.Errors, res.Took = count.Load(), failed.Load(), time.Since(start)
	return res
}

var errNotAnswer = errors.New("not a pool answer")

// oneRequest sends req on a new connection and reads until the server
// closes; an answer that is not a 200 ok (an error, a refusal) fails.
func oneRequest(addr string, req, buf []byte) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	// Reset instead of FIN after the server's close, so that no TIME_WAIT
	// sockets pile up and slow down connect() for the server measured later.
	_ = c.(*net.TCPConn).SetLinger(0)
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(req); err != nil {
		return err
	}
	total := 0
	for {
		n, err := c.Read(buf[total:])
		total += n
		if err == io.EOF || total == len(buf) {
			if !bytes.HasPrefix(buf[:total], []byte("HTTP/1.1 200 ")) || bytes.Contains(buf[:total], []byte("<ERROR>")) {
				return fmt.Errorf("%w: %q", errNotAnswer, buf[:min(total, 300)])
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}
