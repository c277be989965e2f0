package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/purepool/purepool/internal/benchfrontend"
	"github.com/purepool/purepool/internal/testenv"
)

func init() {
	register("bench", "measure a role against a bare net/http handler on the real services (bench frontend)", runBench)
}

// runBench dispatches `purepool bench frontend`; `bench load-client` is the
// benchmark's own child process (its load client), not for people.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("which benchmark? purepool bench frontend [flags]")}
	}
	switch args[0] {
	case "frontend":
		return runBenchFrontend(ctx, args[1:], stdout, stderr)
	case "load-client":
		return benchfrontend.RunClient(stdout)
	}
	return usageError{fmt.Errorf("unknown benchmark %q (known: frontend)", args[0])}
}

func runBenchFrontend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench frontend", stderr)
	pg := fs.String("pg-url", testenv.PostgresAdminURL(), "PostgreSQL superuser URL: a private database is created on that server, and dropped")
	amqpURL := fs.String("amqp-url", testenv.AMQPURL(), "RabbitMQ administrator URL: a private vhost is created on that broker (rabbitmqctl), and deleted")
	actions := fs.String("actions", "readytomine2,solution", "actions to measure")
	conns := fs.Int("c", 64, "concurrent connections (one request per connection, Connection: close)")
	round := fs.Duration("d", 0, "length of one round of one server (default 5s)")
	rounds := fs.Int("rounds", 4, "interleaved rounds per server and action")
	profile := fs.String("profile-dir", "", "write CPU profiles of the frontend's rounds and the allocations here")
	inProcess := fs.Bool("in-process-client", false, "run the load client in this process (the CPU figures then include it)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg := benchfrontend.Config{
		PostgresURL: *pg, AMQPURL: *amqpURL, Actions: strings.Split(*actions, ","),
		Conns: *conns, Round: *round, Rounds: *rounds, ProfileDir: *profile,
		Log: slog.New(slog.NewTextHandler(stderr, nil)),
	}
	if !*inProcess {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		cfg.Client = []string{exe, "bench", "load-client"}
	}
	results, err := benchfrontend.Run(ctx, cfg)
	if err != nil {
		return err
	}
	benchfrontend.Print(stdout, cfg, results)
	return nil
}
