package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/config"
)

// The admin socket is how `purepool admin` reaches a pool that runs every
// role in one process on the in-process bus (`purepool run` without
// broker.url), which has no broker to publish to. It is a Unix socket in
// data_dir, readable and writable by the pool's user only: the file's
// permissions are its authentication. It takes the admin commands only —
// a miner's work or share never comes this way.

// AdminSocketPath is where a pool with the in-process bus listens for
// admin commands.
func AdminSocketPath(cfg config.Config) string { return filepath.Join(cfg.DataDir, "admin.sock") }

// adminCommandNames are the commands the admin socket takes.
var adminCommandNames = map[string]bool{
	commands.NameDisableMiner: true, commands.NameEnableMiner: true,
	commands.NamePausePayouts: true, commands.NameResumePayouts: true,
	commands.NameTriggerPayout: true, commands.NameReconcilePayout: true, commands.NameCorrectPayout: true, commands.NameAdoptWalletPayout: true,
}

// adminMessage is a command on the admin socket.
type adminMessage struct {
	ID   uuid.UUID       `json:"id"`
	Name string          `json:"name"`
	Body json.RawMessage `json:"body"`
}

// listenAdmin opens the admin socket. A socket file left by a pool that
// died is replaced; one that answers belongs to a pool still running on
// this data_dir, which is an error.
func (p *Pool) listenAdmin() error {
	path := AdminSocketPath(p.cfg)
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return &config.KeyError{Key: "data_dir", Err: fmt.Errorf("another pool runs on it (its admin socket %s answers)", path)}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return &config.KeyError{Key: "data_dir", Err: fmt.Errorf("admin socket: %w", err)}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		// E.g. a data_dir path longer than a socket address may be (about
		// 100 bytes): the pool runs, only without this way in.
		p.log.Warn("no admin socket: `purepool admin` cannot reach this pool", "path", path, "err", err)
		return nil
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return &config.KeyError{Key: "data_dir", Err: fmt.Errorf("admin socket: %w", err)}
	}
	p.adminLn = ln
	p.onClose(func() error {
		ln.Close() // Serve closes it too; a second close only reports that
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	})
	return nil
}

// AdminSocketAddr is the admin socket's address (nil when there is none).
func (p *Pool) AdminSocketAddr() net.Addr {
	if p.adminLn == nil {
		return nil
	}
	return p.adminLn.Addr()
}

// serveAdmin takes admin commands on the socket until ctx ends.
func (p *Pool) serveAdmin(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /commands", func(w http.ResponseWriter, r *http.Request) {
		var m adminMessage
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&m); err != nil {
			http.Error(w, "not a command: "+err.Error(), http.StatusBadRequest)
			return
		}
		if !adminCommandNames[m.Name] {
			http.Error(w, fmt.Sprintf("%q is not an admin command", m.Name), http.StatusBadRequest)
			return
		}
		msg := commands.Message{ID: m.ID, Name: m.Name, Body: m.Body}
		if _, err := commands.Decode(msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := p.publisher.Publish(r.Context(), msg); err != nil {
			http.Error(w, "publish: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		p.log.Info("admin command taken on the admin socket", "command", m.Name, "id", m.ID)
		w.WriteHeader(http.StatusAccepted)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	if err := srv.Serve(p.adminLn); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin socket: %w", err)
	}
	return nil
}

// SendAdmin hands an admin command to the pool listening on the admin
// socket at path; it returns once the pool has queued it.
func SendAdmin(ctx context.Context, path string, c commands.Command) error {
	msg, err := commands.Encode(c)
	if err != nil {
		return err
	}
	body, err := json.Marshal(adminMessage{ID: msg.ID, Name: msg.Name, Body: msg.Body})
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://purepool/commands", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("admin socket %s (is the pool running, and are you its user?): %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("admin socket: %s: %s", resp.Status, b)
	}
	return nil
}
